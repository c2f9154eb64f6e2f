// A flow the relay itself ends before its UDP ASSOCIATE was answered (the client blocked, its
// mapping moved or removed, TPROXY mode left, a stop) did not fail at the proxy: it was counted as
// a failed association, logged as one and reported as the client's problem ("associate_failed:
// closed before it opened") in place of the block that ended it (review). The real UdpRelay with a
// scripted SOCKS5 server on loopback that answers the ASSOCIATE after 2 s.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';
import { noReplySocket, udpRelayUnderTest } from '../support/udp-relay-under-test.js';

describe('UDP relay: a flow it ends before the ASSOCIATE is answered', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('is not a failed association: not counted, and the client\'s problem is the block that ended it', async () => {
    const proxy = await startScriptedSocks5('127.0.0.1', Buffer.from([1, 127, 0, 0, 1]), () => 9, 2_000);
    cleanups.push(proxy.close);
    const t = udpRelayUnderTest({ proxyPort: proxy.port, replySocket: noReplySocket, connectTimeoutMs: 5_000 });
    cleanups.push(t.stop);
    const send = () => t.send({ ip: '203.0.113.7', port: 9 }, Buffer.from('x'));
    t.relay.apply(new Map([[1, t.route()]]));
    send();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(t.relay.flowCount, 1, 'the flow waits for its ASSOCIATE');
    t.relay.apply(new Map([[1, t.route({ blocked: 'proxy_down' })]]));
    send();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(t.relay.flowCount, 0, 'the blocked client\'s flow ended');
    assert.equal(t.relay.stats.associationsFailed, 0, 'counted as a failed association');
    assert.equal(t.relay.clientProblems().get(1)?.reason, 'blocked', JSON.stringify(t.relay.clientProblems().get(1)));
  });
});
