// The relay address a SOCKS5 proxy names in its UDP ASSOCIATE reply is where the gateway then
// sends every client datagram, from its own address. A proxy may name any address there: one other
// than the proxy's own is judged as the client's destination would be (DestinationPolicy through
// `checkRelay`), or a hostile proxy steers client payloads at a host next to the gateway that the
// client itself may not reach. And a relay the association cannot bind for (an IPv6 relay named
// to an IPv4 control connection) must not leave a UDP socket behind per attempt.
// Scripted SOCKS5 servers on loopback; the "elsewhere" relay is a UDP listener of the test on 127.0.0.2.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DialError, Socks5UdpAssociation } from '@pgw/dialers';
import type { ProxyEndpoint } from '@pgw/domain';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';
import { udpListener } from '../support/udp-listener.js';

/** A scripted SOCKS5 server on 127.0.0.1 naming `relay` (ATYP and address bytes) and `relayPort`, as a proxy endpoint. */
async function scriptedProxy(relay: Buffer, relayPort: number): Promise<{ endpoint: ProxyEndpoint; close(): void }> {
  const server = await startScriptedSocks5('127.0.0.1', relay, () => relayPort);
  return { endpoint: { protocol: 'socks5', host: '127.0.0.1', port: server.port } as ProxyEndpoint, close: server.close };
}


const handlers = { onMessage: () => undefined, onClose: () => undefined };
const ipv4 = (a: number, b: number, c: number, d: number) => Buffer.from([1, a, b, c, d]);
const udpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;

describe('SOCKS5 UDP: the relay a proxy names', { timeout: 30_000 }, () => {
  const cleanups: (() => void)[] = [];
  after(() => cleanups.forEach((c) => c()));

  it('a relay other than the proxy is judged as a destination: refused, nothing is sent there', async () => {
    const elsewhere = await udpListener('127.0.0.2');
    cleanups.push(() => elsewhere.socket.close());
    const proxy = await scriptedProxy(ipv4(127, 0, 0, 2), elsewhere.port);
    cleanups.push(proxy.close);
    const judged: string[] = [];
    const checkRelay = (address: string) => (judged.push(address), { reason: 'destination_private' as const, message: 'in a private range' });
    let association: Socks5UdpAssociation | null = null;
    try {
      association = await Socks5UdpAssociation.open(proxy.endpoint, { timeoutMs: 2_000, checkRelay }, handlers);
      association.send({ host: '203.0.113.53', port: 53 }, Buffer.from('client payload'));
    } catch (error) {
      assert.ok(error instanceof DialError && error.reason === 'proxy_forbidden', String(error));
      assert.equal((error.cause as { reason: string }).reason, 'destination_private');
      assert.match(error.message, /127\.0\.0\.2/);
    } finally {
      association?.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(judged, ['127.0.0.2']);
    assert.equal(elsewhere.received.length, 0, 'the client payload reached the host the proxy named');
    assert.equal(association, null, 'the association opened');
  });

  it("the proxy's own address (or an unspecified one) is not judged again: it was judged as the proxy", async () => {
    const own = await udpListener('127.0.0.1');
    cleanups.push(() => own.socket.close());
    for (const relay of [ipv4(127, 0, 0, 1), ipv4(0, 0, 0, 0)]) {
      const proxy = await scriptedProxy(relay, own.port);
      cleanups.push(proxy.close);
      const association = await Socks5UdpAssociation.open(proxy.endpoint, { timeoutMs: 2_000, checkRelay: () => ({ reason: 'destination_private', message: 'refuse all' }) }, handlers);
      const before = own.received.length;
      association.send({ host: '203.0.113.53', port: 53 }, Buffer.from('x'));
      for (let i = 0; i < 50 && own.received.length === before; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      association.close();
    }
    assert.equal(own.received.length, 2);
  });

  it('a relay the kernel will not connect to (the broadcast address: EACCES) fails the opening; no association sends from an unconnected socket', async () => {
    // dgram hands a connect error to the connect callback, not to 'error': taken for a success,
    // the association opened on an unconnected socket and its first send threw (a port is
    // required then), an unhandled rejection that ended the forwarder: any proxy could stop
    // every client's relay by naming such a relay (one with no route, too).
    const proxy = await scriptedProxy(ipv4(255, 255, 255, 255), 9999);
    cleanups.push(proxy.close);
    const before = udpHandles();
    let association: Socks5UdpAssociation | null = null;
    try {
      association = await Socks5UdpAssociation.open(proxy.endpoint, { timeoutMs: 2_000, checkRelay: () => null }, handlers);
      assert.equal(association.send({ host: '203.0.113.53', port: 53 }, Buffer.from('x')), 'closed', 'a send on the association of a relay it could not connect to');
    } catch (error) {
      assert.ok(error instanceof DialError && error.reason === 'connect_failed', String(error));
      assert.match(error.message, /SOCKS5 UDP relay 255\.255\.255\.255:9999.*EACCES/);
    } finally {
      association?.close();
    }
    assert.equal(association, null, 'the association opened');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(udpHandles() - before, 0, 'the UDP socket of the failed opening is left open');
  });

  it('a relay it cannot bind for (IPv6 named to an IPv4 control connection) leaves no UDP socket behind', async () => {
    const proxy = await scriptedProxy(Buffer.from([4, ...Array<number>(15).fill(0), 1]), 9);
    cleanups.push(proxy.close);
    const before = udpHandles();
    for (let i = 0; i < 20; i++) await assert.rejects(Socks5UdpAssociation.open(proxy.endpoint, { timeoutMs: 2_000 }, handlers));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(udpHandles() - before, 0, `${udpHandles() - before} UDP sockets left by 20 failed opens`);
  });
});
