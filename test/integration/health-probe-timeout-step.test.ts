// A probe that runs out of time names the step it was at (issue 12: a failure names the step that
// failed), against a real socket on loopback: a proxy that accepts and never answers the greeting
// reads as the proxy's greeting, with the probe's own time. (No TCP connection at all is
// probe.spec.ts's: on loopback a full accept queue still completes the client's handshake.)
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { dialerFor } from '@pgw/dialers';
import { parsePort } from '@pgw/domain';
import { checkTargetFromUrl, probeThroughProxy } from '../../services/health/src/probing/probe.js';

const TARGET = checkTargetFromUrl('http://203.0.113.10/ip');
const TIMEOUT_MS = 1_000;
const sockets: net.Socket[] = [];
const servers: net.Server[] = [];
after(() => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) server.close();
});

async function listen(server: net.Server, backlog: number): Promise<number> {
  servers.push(server);
  server.listen({ host: '127.0.0.1', port: 0, backlog });
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

describe('health probe: a timeout names the step', { timeout: 20_000 }, () => {
  it('a proxy that accepts and never answers: its greeting named, the proxy reached', async () => {
    const silent = net.createServer((socket) => void sockets.push(socket));
    const port = await listen(silent, 16);
    const proxy = { protocol: 'socks5' as const, host: '127.0.0.1', port: parsePort(port) };
    const outcome = await probeThroughProxy(dialerFor('socks5'), proxy, TARGET, { timeoutMs: TIMEOUT_MS, trustedCa: [], checkProxyAddress: () => null });
    assert.equal(outcome.ok, false);
    if (outcome.ok) return;
    assert.equal(outcome.result, 'timeout');
    assert.equal(outcome.reachedProxy, true, outcome.error);
    assert.match(outcome.error, /greeting/, outcome.error);
    assert.match(outcome.error, new RegExp(`within ${TIMEOUT_MS} ms`), outcome.error);
  });
});
