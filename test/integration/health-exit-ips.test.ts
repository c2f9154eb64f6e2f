// Exit-IP intelligence (issue 17) with the real health service against the real Postgres (migration
// 0014, role pgw_health), a private Redis and a real dante on a loopback address: the history of
// each proxy's exit addresses (first and last seen, how often), read back through the api's query;
// alarms as notices and metrics: two proxy rows leaving from one dante share an exit IP, and a relay
// that connects from the gateway's own address (127.0.0.1 here) "does not proxy"; a proxy whose exit
// should differ from its own address (`exit_differs`, migration 0017) but leaves from it does not either.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { PgwEvent } from '@pgw/events';
import { listExitIps } from '../../services/api/src/repositories/exit-ips.js';
import { startDante } from '../../lab/proxies.js';
import type { ProxyHandle, RedisHandle } from '../../lab/types.js';
import { waitFor } from '../../lab/wait.js';
import type { TestDatabase } from '../support/database.js';
import { type IpEcho, startIpEcho } from '../support/ip-echo.js';
import { type HealthStack, type HealthStores, startHealthStack, startHealthStores } from './health-stack.js';

const SUBNET = `127.63.${randomInt(1, 250)}`;
const ECHO_IP = `${SUBNET}.100`;
const RELAY_IP = `${SUBNET}.14`;

/**
 * An HTTP CONNECT relay that dials from 127.0.0.1, one of the gateway's own addresses: what a
 * "proxy" that forwards without proxying looks like from the check URL.
 */
function startLocalRelay(): Promise<NetServer> {
  const server = createNetServer((client) => {
    client.once('data', (head) => {
      const match = /^CONNECT ([^:\s]+):(\d+) HTTP/.exec(head.toString('latin1'));
      if (!match) return void client.destroy();
      const upstream = connect({ host: match[1], port: Number(match[2]), localAddress: '127.0.0.1' }, () => {
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  return new Promise((resolve, reject) => server.once('error', reject).listen(3128, RELAY_IP, () => resolve(server)));
}

describe('exit-IP history and alarms (health service, dante, Postgres)', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let stores: HealthStores | undefined;
  let redis: RedisHandle;
  let stack: HealthStack;
  let dante: ProxyHandle;
  let relay: NetServer;
  let echo: IpEcho;
  const events: PgwEvent[] = [];
  let stopTail: (() => Promise<void>) | undefined;
  const ids: Record<'a' | 'b' | 'relay' | 'pool', number> = { a: 0, b: 0, relay: 0, pool: 0 };
  const alarms = (proxyId: number) => events.filter((e): e is Extract<PgwEvent, { type: 'proxy.exit_ip_alarm' }> => e.type === 'proxy.exit_ip_alarm' && e.proxyId === proxyId);
  const metric = async (proxyId: number, kind: string) => {
    const values = (await stack.registry.getSingleMetric('pgw_proxy_exit_ip_alarm')!.get()).values;
    return values.find((v) => v.labels.proxy === String(proxyId) && v.labels.kind === kind)?.value;
  };

  before(async () => {
    stores = await startHealthStores('exitips-test', { databasePrefix: 'pgw_exitips' });
    ({ database, redis } = stores);
    echo = await startIpEcho(ECHO_IP);
    dante = await startDante({ ip: `${SUBNET}.11`, port: 1080 });
    relay = await startLocalRelay();
    // Periodic probes far apart: the test asks for each probe itself.
    await database.db.updateTable('settings').set({ healthIntervalS: 3600, probeTimeoutMs: 2000, checkUrl: echo.checkUrl }).where('id', '=', 1).execute();
    const insert = (name: string, protocol: 'socks5' | 'http', host: string, port: number) =>
      database.db.insertInto('proxies').values({ name, protocol, host, port }).returning('id').executeTakeFirstOrThrow();
    ids.a = (await insert('dante-a', 'socks5', dante.ip, dante.port)).id;
    ids.b = (await insert('dante-b', 'socks5', dante.ip, dante.port)).id;
    ids.relay = (await insert('local-relay', 'http', RELAY_IP, 3128)).id;
    stack = await startHealthStack(database, redis, { name: 'exitips-test', secretKey: randomBytes(32), proxyAllowNetworks: [`${SUBNET}.0/24`], liveness: false });
    stopTail = stack.bus.tail('0-0', ({ event }) => events.push(event)).stop;
  });

  after(async () => {
    await stopTail?.();
    await stack?.stop();
    echo?.close();
    relay?.close();
    await dante?.stop();
    await stores?.stop();
  });

  it('records each exit address with first and last seen and a count, and the api reads it back', async () => {
    const first = await stack.probe(ids.a, 10_000);
    assert.equal(first.exitIp, dante.ip);
    const second = await stack.probe(ids.a, 10_000);
    assert.equal(second.ok, true);
    const history = await listExitIps(database.db, ids.a);
    assert.equal(history.length, 1);
    assert.equal(history[0]!.exitIp, dante.ip);
    assert.equal(history[0]!.seenCount >= 2, true, `seen ${history[0]!.seenCount} times`);
    assert.ok(Date.parse(history[0]!.firstSeen) < Date.parse(history[0]!.lastSeen), 'last seen moves, first seen stays');
  });

  it('two proxies leaving from one address: a shared alarm naming the other, once, and its metric', async () => {
    await stack.probe(ids.b, 10_000);
    const [alarm] = await waitFor('the shared alarm of dante-b', 5_000, async () => (alarms(ids.b).length > 0 ? alarms(ids.b) : undefined));
    assert.deepEqual({ kind: alarm!.kind, exitIp: alarm!.exitIp, others: alarm!.others }, { kind: 'shared', exitIp: dante.ip, others: [{ proxyId: ids.a, name: 'dante-a' }] });
    assert.equal(await metric(ids.b, 'shared'), 1);
    await stack.probe(ids.b, 10_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(alarms(ids.b).length, 1, 'not announced again while it holds');
    await stack.probe(ids.a, 10_000);
    await waitFor('dante-a sees it too', 5_000, async () => alarms(ids.a).some((a) => a.kind === 'shared' && a.others[0]?.proxyId === ids.b) || undefined);
    assert.equal(await metric(ids.a, 'gateway_address'), 0);
  });

  it("a relay whose traffic leaves from the gateway's own address: the proxy does not proxy", async () => {
    const result = await stack.probe(ids.relay, 10_000);
    assert.equal(result.exitIp, '127.0.0.1');
    const [alarm] = await waitFor('the gateway_address alarm', 5_000, async () => (alarms(ids.relay).length > 0 ? alarms(ids.relay) : undefined));
    assert.deepEqual({ kind: alarm!.kind, exitIp: alarm!.exitIp }, { kind: 'gateway_address', exitIp: '127.0.0.1' });
    assert.equal(await metric(ids.relay, 'gateway_address'), 1);
    assert.deepEqual((await listExitIps(database.db, ids.relay)).map((r) => r.exitIp), ['127.0.0.1']);
  });

  it("an exit that should differ from the proxy's own address but does not: proxy_address, cleared when the setting is off", async () => {
    // A pool gateway whose clients should leave from other addresses than the one they dial; added
    // only now, since it leaves from the same dante and would join the shared alarm above.
    ids.pool = (await database.db.insertInto('proxies').values({ name: 'pool-gw', protocol: 'socks5', host: dante.ip, port: dante.port, exitDiffers: true }).returning('id').executeTakeFirstOrThrow()).id;
    const result = await stack.probe(ids.pool, 10_000);
    assert.equal(result.exitIp, dante.ip);
    const alarm = await waitFor('the proxy_address alarm', 5_000, async () => alarms(ids.pool).find((a) => a.kind === 'proxy_address'));
    assert.deepEqual({ exitIp: alarm.exitIp, others: alarm.others }, { exitIp: dante.ip, others: [] });
    assert.equal(await metric(ids.pool, 'proxy_address'), 1);
    // The same exit from a proxy whose exit may be its own address (the default) raises nothing.
    await stack.probe(ids.a, 10_000);
    assert.equal(await metric(ids.a, 'proxy_address'), 0);
    assert.equal(alarms(ids.a).some((a) => a.kind === 'proxy_address'), false);
    await database.db.updateTable('proxies').set({ exitDiffers: false }).where('id', '=', ids.pool).execute();
    await stack.probe(ids.pool, 10_000);
    assert.equal(await metric(ids.pool, 'proxy_address'), 0);
    assert.equal(alarms(ids.pool).filter((a) => a.kind === 'proxy_address').length, 1, 'announced once');
  });
});
