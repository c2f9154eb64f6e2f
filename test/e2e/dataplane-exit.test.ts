// Flow 1 end to end (docs/SECURITY.md): every mapped client's TCP leaves through its own proxy, with
// the real agent and the real forwarder (services/forwarder) in the lab, and nothing but proxy
// traffic crosses eth0. Also: 256 mappings effective at once.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ProxyKind } from '../../lab/index.js';
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';

const KINDS: ProxyKind[] = ['socks5', 'socks5-auth', 'http-auth'];
const CLIENTS = 256;

let dp: Dataplane;
const exitOf = new Map<string, string>(); // client -> the proxy address it must exit from

async function exitIp(client: string): Promise<string | null> {
  const r = await dp.lab.httpGet({ ns: dp.lab.ns.lan, url: dp.lab.description.internet.echoUrl, sourceIp: client, timeoutMs: 5_000 });
  return r.ok && r.status === 200 ? (JSON.parse(r.body) as { ip: string }).ip : null;
}

describe('dataplane exit through each client’s proxy (flow 1), 256 mappings', { timeout: 300_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', join(REPO, 'services/forwarder')], { cwd: REPO, stdio: 'inherit', timeout: 180_000 });
    dp = await createDataplane({ clients: CLIENTS, proxies: KINDS });
    await dp.loadGuard();
    const proxyIds = await Promise.all(KINDS.map((_, i) => dp.addProxy(i, 'up')));
    for (const [i, client] of dp.lab.clients.entries()) {
      await dp.addMapping(client, proxyIds[i % KINDS.length]!, 20000 + i);
      exitOf.set(client, dp.lab.proxies[i % KINDS.length]!.ip);
    }
    await dp.gateway.start('forwarder');
    await dp.startAgent();
    await dp.waitFor('all mappings applied', async () => (await dp.setElements('lan_mapped'))?.length === CLIENTS, 30_000);
  });

  after(async () => {
    await dp?.destroy();
  });

  it('flow 1: a client exits from its proxy’s address through SOCKS5, SOCKS5 with auth and HTTP CONNECT with auth; eth0 carries only proxy traffic', async () => {
    const capture = await dp.captureWan();
    const firstOfEach = dp.lab.clients.slice(0, KINDS.length);
    const seen = [];
    for (const client of firstOfEach) seen.push(await exitIp(client));
    const wan = await capture.stop();
    assert.deepEqual(seen, firstOfEach.map((c) => exitOf.get(c)));
    assert.deepEqual(wan.fromClients, []);
    assert.deepEqual(wan.toOtherHosts, []);
    assert.ok(wan.all.length > 0, 'the proxy traffic itself is seen on eth0');
  });

  it(`${CLIENTS} mappings are effective at once: every client exits from its own proxy’s address`, async () => {
    const started = Date.now();
    const results = new Map<string, string | null>();
    const queue = [...dp.lab.clients];
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let client = queue.shift(); client; client = queue.shift()) results.set(client, await exitIp(client));
      }),
    );
    const wrong = [...results].filter(([client, ip]) => ip !== exitOf.get(client));
    console.log(`# ${CLIENTS} clients checked in ${Date.now() - started} ms, ${wrong.length} wrong`);
    assert.deepEqual(wrong, []);
  });
});
