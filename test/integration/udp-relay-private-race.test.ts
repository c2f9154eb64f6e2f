// A mapping's own choice for private destinations, cleared (back to the global "deny") while a
// flow's UDP ASSOCIATE is still unanswered, must judge the relay address the proxy then names. The
// relay check took the current route's choice with `??`, so a cleared choice (null: "the global
// setting") fell back to the "allow" the flow had opened with: a proxy that answers slowly (up to
// the connect timeout) got every datagram of the client aimed at a private host next to the
// gateway. The real UdpRelay with a scripted SOCKS5 server on loopback.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';
import { noReplySocket, udpRelayUnderTest } from '../support/udp-relay-under-test.js';

const PRIVATE_RELAY = Buffer.from([1, 10, 1, 2, 3]);

describe('UDP relay: the private-destinations choice in force when the proxy names its relay', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  /**
   * The client's problem once the proxy has named a private relay: `destination_private` when it
   * was refused; allowed, the association tries to reach 10.1.2.3 from its loopback control
   * connection's address, which the kernel refuses (`associate_failed`, EINVAL): it got through.
   */
  async function verdictAfter(atOpen: 'allow' | null, whenAnswered: 'allow' | null): Promise<string | undefined> {
    const proxy = await startScriptedSocks5('127.0.0.1', PRIVATE_RELAY, () => 9999, 300);
    cleanups.push(proxy.close);
    const t = udpRelayUnderTest({ proxyPort: proxy.port, replySocket: noReplySocket });
    cleanups.push(t.stop);
    t.relay.apply(new Map([[1, t.route({ privateDestinations: atOpen })]]));
    t.send({ ip: '203.0.113.7', port: 9 }, Buffer.from('client payload'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.relay.apply(new Map([[1, t.route({ privateDestinations: whenAnswered })]]));
    await new Promise((resolve) => setTimeout(resolve, 700));
    const problem = t.relay.clientProblems().get(1);
    return problem?.reason === 'associate_failed' ? `tried ${problem.detail}` : problem?.reason;
  }

  it('the global deny refuses a private relay (control)', async () => {
    assert.equal(await verdictAfter(null, null), 'destination_private');
  });

  it("a mapping's allow still lets it through (control)", async () => {
    assert.match((await verdictAfter('allow', 'allow')) ?? '', /^tried .*10\.1\.2\.3/);
  });

  it("a mapping's allow cleared while the ASSOCIATE is pending: the global deny refuses the relay", async () => {
    assert.equal(await verdictAfter('allow', null), 'destination_private', 'the flow relays to a private host under the global deny');
  });
});
