// The forwarder logs each kind of reply-socket refusal the agent answers once (at most 100): the
// agent's refusal names the destination, which the client chooses, and the log was keyed by the
// whole text. A client's datagrams to 120 addresses the agent refuses (the agent reads the
// gateway's addresses at the ask, the forwarder every 2 s: here 203.0.113.0/24 became the
// gateway's in between, and the forwarder's guard let it through) used up every line, and a real refusal
// later ("no policy in force yet") was never logged until the forwarder restarted (review). The
// real UdpRelay and the agent's own refusal wording (replySocketRefusal).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { GatewayPolicy } from '@pgw/domain';
import type { Logger } from '@pgw/log';
import { replySocketRefusal } from '../../services/agent/src/listeners/udp-reply-check.js';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';
import { UDP_CLIENT, udpRelayUnderTest } from '../support/udp-relay-under-test.js';

describe('UDP relay: the agent\'s refusals in the log', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('a client\'s refused destinations take one line, and a later real refusal is still logged', async () => {
    const proxy = await startScriptedSocks5('127.0.0.1', Buffer.from([1, 127, 0, 0, 1]), () => 9, 60_000);
    cleanups.push(proxy.close);
    const lines: { message: string; reason?: string }[] = [];
    const logger = { warn: (message: string, meta: { reason?: string } = {}) => void lines.push({ message, ...meta }), info() {}, error() {}, debug() {}, isDebugEnabled: () => false } as unknown as Logger;
    const policy = { interceptMode: 'tproxy', lan: { cidr: '192.168.2.0/24' }, clients: [{ ip: UDP_CLIENT, blocked: null }] } as unknown as GatewayPolicy;
    let agentUp = true;
    const t = udpRelayUnderTest({
      proxyPort: proxy.port,
      connectTimeoutMs: 60_000,
      logger,
      replySocket: async (_client, destination) => ({ reason: agentUp ? (replySocketRefusal(policy, UDP_CLIENT, destination.ip, () => ({ has: (ip: string) => ip.startsWith('203.0.113.') }) as never) ?? 'granted') : 'the agent has no policy in force yet' }),
    });
    cleanups.push(t.stop);
    t.relay.apply(new Map([[1, t.route()]]));
    // Four client ports: a flow takes at most 32 destinations.
    for (let i = 0; i < 120; i++) t.send({ ip: `203.0.113.${i}`, port: 9 }, Buffer.from('x'), 5000 + Math.floor(i / 30));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const refusals = () => lines.filter((l) => l.message.startsWith('the agent refused a UDP reply socket'));
    assert.equal(refusals().length, 1, `one line for one kind of refusal: ${refusals().length}`);
    agentUp = false;
    t.send({ ip: '198.51.100.1', port: 9 }, Buffer.from('x'), 6000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(refusals().map((l) => l.reason), ['destination 203.0.113.0 is an address of this gateway', 'the agent has no policy in force yet']);
  });
});
