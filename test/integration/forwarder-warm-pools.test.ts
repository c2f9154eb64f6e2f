// The forwarder's warm pools (services/forwarder/src/tcp/warm-pools.ts) after the proxy-address
// policy changed, against HTTP CONNECT servers written here on loopback: a take of a warm
// connection dials nothing, so nothing checks its address again. A proxy given by a literal keeps
// its pool while the policy still allows it; a proxy given by name loses it whatever the policy
// says (the addresses its connections went to are not kept), and its next opens resolve again
// through the checked lookup.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseIpv4, parsePort, type ProxyEndpoint } from '@pgw/domain';
import type { MappingRoute } from '../../services/forwarder/src/routes/routes.js';
import { WarmPools } from '../../services/forwarder/src/tcp/warm-pools.js';

const ALLOW_ALL = () => null;
const SETTINGS = { maxPerProxy: 2, maxAgeMs: 20_000, demandWindowMs: 10_000 };

/** Answers any CONNECT with 200 and then echoes; counts its open connections. */
async function startConnectProxy(): Promise<{ port: number; open: () => Promise<number>; close: () => void }> {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 Connection established\r\n\r\n');
      socket.pipe(socket);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    open: () => new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count)))),
    close: () => server.close(),
  };
}

function routeTo(proxyId: number, proxy: ProxyEndpoint): MappingRoute {
  return { mappingId: proxyId, clientIp: parseIpv4('192.168.2.10'), listenPort: parsePort(20000 + proxyId), proxyId, proxy, handshake: 'sequential', blocked: null, privateDestinations: null };
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`${what}: not within 2 s`);
}

describe('forwarder warm pools after a change of the proxy-address policy (loopback CONNECT servers)', { timeout: 30_000 }, () => {
  const servers: { close: () => void }[] = [];
  const pools = new WarmPools(SETTINGS, { timeoutMs: 2_000, allowHalfOpen: true, checkProxyAddress: ALLOW_ALL });
  after(() => {
    pools.close();
    for (const server of servers) server.close();
  });

  it("closes the pool of a proxy given by name, keeps a literal one's the policy still allows", async () => {
    const byName = await startConnectProxy();
    const byLiteral = await startConnectProxy();
    servers.push(byName, byLiteral);
    for (const [id, proxy] of [[1, { protocol: 'http', host: 'localhost', port: parsePort(byName.port) }], [2, { protocol: 'http', host: '127.0.0.1', port: parsePort(byLiteral.port) }]] as const) {
      const pool = pools.pool(routeTo(id, proxy))!;
      // Demand: one connection through the pool; once it ended, the pool refills.
      const socket = await pool.dial({ host: '203.0.113.10', port: 80 }, { timeoutMs: 2_000, allowHalfOpen: true });
      socket.destroy();
      pool.connectionEnded();
    }
    await until('a warm connection at each proxy', async () => (await byName.open()) >= 1 && (await byLiteral.open()) >= 1 && pools.stats().get(1)?.idle === 1 && pools.stats().get(2)?.idle === 1);

    assert.equal(pools.recheckProxies(ALLOW_ALL), 1, 'one pool closed: the one of the proxy given by name');
    await until('no connection left at the proxy given by name', async () => (await byName.open()) === 0);
    assert.equal(await byLiteral.open(), 1, 'the literal proxy the policy allows keeps its warm connection');

    assert.equal(pools.recheckProxies((address) => (address === '127.0.0.1' ? { message: 'now refused' } : null)), 1);
    await until('no connection left at the literal proxy now refused', async () => (await byLiteral.open()) === 0);
  });
});
