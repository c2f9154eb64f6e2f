// The health service in-process against the real Postgres (as role pgw_health), a private Redis
// and real dante/tinyproxy on loopback addresses of the root namespace (listening sockets only),
// probing an IP-echo server on loopback. Each proxy leaves from its own address, so the echo
// answer proves the probe really went through that proxy.
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { encryptSecret } from '@pgw/crypto';
import { EventBus, type PgwEvent, type ProbeResult } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { pruneHistory } from '../../services/health/src/repositories/checks.js';
import { startDante, startTinyproxy } from '../../lab/proxies.js';
import type { ProxyHandle, RedisHandle } from '../../lab/types.js';
import type { TestDatabase } from '../support/database.js';
import { quietIntervalS } from '../support/quiet-proxy.js';
import { waitFor } from '../../lab/wait.js';
import { type HealthStack, type HealthStores, startHealthStack, startHealthStores } from './health-stack.js';

const SUBNET = `127.62.${randomInt(1, 250)}`;
const ECHO_IP = `${SUBNET}.100`;
const PERIOD_S = 5;
const AUTH = { username: 'pgwhealth', password: 'health-test-pass' };

/** IP echo with a switch that makes it answer like a rate-limited check URL. */
class EchoServer {
  rateLimited = false;
  readonly server: Server = createServer((req, res) => {
    if (this.rateLimited) return void res.writeHead(429, { 'content-type': 'text/html' }).end('<h1>429 Too Many Requests</h1>');
    if (req.url !== '/ip') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ip: req.socket.remoteAddress }));
  });
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(0, ECHO_IP, resolve));
    return `http://${ECHO_IP}:${(this.server.address() as AddressInfo).port}/ip`;
  }
}

interface ProxyRow {
  status: string;
  exitIp: string | null;
  latencyMs: number | null;
  lastError: string | null;
  consecutiveSuccesses: number;
  statusChangedAt: Date | null;
}


describe('health service against real proxies', () => {
  let database: TestDatabase;
  let stores: HealthStores | undefined;
  let redis: RedisHandle;
  let stack: HealthStack;
  const echo = new EchoServer();
  const events: PgwEvent[] = [];
  const proxies: { handle: ProxyHandle; id: number }[] = [];
  let stopTail: (() => Promise<void>) | undefined;

  const row = (id: number): Promise<ProxyRow> =>
    database.db
      .selectFrom('proxies')
      .select(['status', 'exitIp', 'latencyMs', 'lastError', 'consecutiveSuccesses', 'statusChangedAt'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
  const checks = (id: number) => database.db.selectFrom('proxyChecks').selectAll().where('proxyId', '=', id).orderBy('id').execute();
  const onDemand = (proxyId: number): Promise<ProbeResult> => stack.probe(proxyId, 10_000);
  const setSettings = async (values: Record<string, unknown>) => {
    await database.db.updateTable('settings').set(values).where('id', '=', 1).execute();
    await stack.health.reconcile();
  };

  before(async () => {
    stores = await startHealthStores('health-test');
    ({ database, redis } = stores);
    const checkUrl = await echo.listen();
    const key = randomBytes(32);
    const handles = [
      await startDante({ ip: `${SUBNET}.11`, port: 1080 }),
      await startTinyproxy({ ip: `${SUBNET}.12`, port: 3128 }),
      await startTinyproxy({ ip: `${SUBNET}.13`, port: 3128, auth: AUTH }),
    ];
    await database.db.updateTable('settings').set({ healthIntervalS: PERIOD_S, probeTimeoutMs: 2000, checkUrl }).where('id', '=', 1).execute();
    for (const [i, handle] of handles.entries()) {
      const inserted = await database.db
        .insertInto('proxies')
        .values({
          name: `proxy-${i}`,
          protocol: handle.kind.startsWith('socks5') ? 'socks5' : 'http',
          host: handle.ip,
          port: handle.port,
          username: handle.username ?? null,
          passwordEnc: handle.password === undefined ? null : encryptSecret(handle.password, key),
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      proxies.push({ handle, id: inserted.id });
    }
    // The probe path alone: the liveness connection (test/e2e/health-liveness.test.ts) would record a
    // stopped proxy down before the counted on-demand probes, and ask for probes of its own.
    stack = await startHealthStack(database, redis, { name: 'health-test', secretKey: key, proxyAllowNetworks: [`${SUBNET}.0/24`], liveness: false });
    // Every stream from its start, for the assertions.
    stopTail = stack.bus.tail('0-0', ({ event }) => events.push(event)).stop;
  });

  after(async () => {
    await stopTail?.();
    await stack?.stop();
    echo.server.close();
    for (const { handle } of proxies) await handle.stop();
    await stores?.stop();
  });

  it('reports each real proxy up with its own exit IP and a latency, then probes it every period', async () => {
    for (const { handle, id } of proxies) {
      const current = await waitFor(`proxy ${handle.kind} up`, 5_000, async () => {
        const r = await row(id);
        return r.status === 'up' ? r : undefined;
      });
      assert.equal(current.exitIp, handle.ip, `${handle.kind} exit IP`);
      assert.ok(current.latencyMs !== null && current.latencyMs >= 1 && current.latencyMs < 2000, `latency ${current.latencyMs}`);
      assert.equal(current.lastError, null);
      // Published after the commit: the row can be read a moment before the notice arrives.
      await waitFor(`proxy.status up notice for ${handle.kind}`, 2_000, async () =>
        events.some((e) => e.type === 'proxy.status' && e.proxyId === id && e.previous === 'unknown' && e.status === 'up' && e.exitIp === handle.ip) || undefined,
      );
    }
    const first = proxies[0]!.id;
    const periodic = await waitFor('three periodic checks', 3 * PERIOD_S * 1000, async () => {
      const rows = (await checks(first)).filter((c) => c.trigger === 'periodic');
      return rows.length >= 3 ? rows : undefined;
    });
    // The first check ran at once (status unknown); later ones keep the proxy's phase, one period
    // apart. A check is stamped when it is recorded: its start is that less the probe's latency,
    // which a loaded machine stretches (a CI run beside the deploy tests saw 3.1 s between ends).
    const started = (c: (typeof periodic)[number]) => c.checkedAt.getTime() - (c.latencyMs ?? 0);
    const gap = started(periodic[2]!) - started(periodic[1]!);
    // What a wrong schedule gives is a period skipped or a second probe in one: off by half a
    // period or more. Timers and the queue's pickup run late under load, so the bound is not tight.
    assert.ok(Math.abs(gap - PERIOD_S * 1000) < (PERIOD_S * 1000) / 2, `gap between periodic checks' starts ${gap} ms (ends ${periodic[2]!.checkedAt.getTime() - periodic[1]!.checkedAt.getTime()} ms apart)`);
    assert.ok(periodic.every((c) => c.ok && c.exitIp === proxies[0]!.handle.ip));
    const metrics = await stack.registry.metrics();
    assert.match(metrics, new RegExp(`pgw_proxy_up\\{proxy="${first}"\\} 1`));
    assert.match(metrics, /pgw_health_probes_total\{result="ok"\} \d+/);
  });

  it('keeps probing and recording while Redis is down', async () => {
    const id = proxies[1]!.id;
    await redis.stop();
    const stoppedAt = new Date();
    try {
      const recorded = await waitFor('a periodic check while Redis is down', PERIOD_S * 1000 + 3_000, async () => {
        const rows = (await checks(id)).filter((c) => c.trigger === 'periodic' && c.checkedAt > stoppedAt);
        return rows.length > 0 ? rows : undefined;
      });
      assert.ok(recorded[0]!.ok);
    } finally {
      await redis.start();
    }
    const result = await onDemand(id);
    assert.equal(result.ok, true, 'the queue works again after Redis came back');
  });

  it('answers an on-demand job with the ProbeResult, and fails a job for an unknown proxy by name', async () => {
    const { handle, id } = proxies[2]!;
    const result = await onDemand(id);
    assert.equal(result.proxyId, id);
    assert.equal(result.ok, true);
    assert.equal(result.exitIp, handle.ip);
    assert.equal(result.error, null);
    assert.ok(result.latencyMs !== null && result.latencyMs > 0);
    assert.ok(Math.abs(Date.parse(result.checkedAt) - Date.now()) < 5_000);
    assert.equal((await checks(id)).at(-1)!.trigger, 'on_demand');
    await assert.rejects(onDemand(999_999), /proxy 999999 does not exist/);
  });

  it('reports a stopped proxy down with a useful error, and up again only after recoverThreshold successes', async () => {
    // A long period, none of its phases near: periodic probes keep out of the way of the counted on-demand ones.
    await setSettings({ healthIntervalS: quietIntervalS(proxies.map((p) => p.id), 120_000), recoverThreshold: 2 });
    await sleep(PERIOD_S * 1000);
    const { handle, id } = proxies[0]!;
    await handle.stop();
    const down = await onDemand(id);
    assert.equal(down.ok, false);
    assert.match(down.error ?? '', new RegExp(`socks5://${handle.ip.replace(/\./g, '\\.')}:1080 .*refused`));
    let current = await row(id);
    assert.equal(current.status, 'down');
    assert.equal(current.lastError, down.error);
    await waitFor('proxy.status down notice', 2_000, async () =>
      events.some((e) => e.type === 'proxy.status' && e.proxyId === id && e.status === 'down' && e.previous === 'up' && e.error === down.error) || undefined,
    );

    await handle.start();
    const firstOk = await onDemand(id);
    assert.equal(firstOk.ok, true);
    current = await row(id);
    assert.equal(current.status, 'down', 'one success is not enough to come back');
    assert.equal(current.consecutiveSuccesses, 1);
    await onDemand(id);
    current = await row(id);
    assert.equal(current.status, 'up');
    assert.equal(current.lastError, null);
  });

  it('probes at once on a forwarder upstream failure, debounced per proxy', async () => {
    const { handle, id } = proxies[1]!;
    await handle.kill();
    const before = (await checks(id)).length;
    const publisher = new EventBus({ redisUrl: redis.url('forwarder'), logger: createLogger('forwarder-stand-in', 'warn') });
    try {
      // The bus publishes without an offline queue: wait until it is connected.
      await waitFor('publisher connected', 3_000, async () => ((await publisher.ping()) ? true : undefined));
      const sent = Date.now();
      for (let i = 0; i < 5; i++) await publisher.publish({ type: 'forwarder.upstream_failure', proxyId: id, reason: 'connect_refused', failures: 3 + i });
      const downAt = await waitFor('status down after the notice', 3_000, async () => ((await row(id)).status === 'down' ? Date.now() : undefined));
      assert.ok(downAt - sent < 1_000, `down ${downAt - sent} ms after the notice`);
      await sleep(2_500);
      const triggered = (await checks(id)).slice(before).filter((c) => c.trigger === 'upstream_failure');
      // Leading probe at once plus at most one trailing probe for the rest of the burst.
      assert.ok(triggered.length >= 1 && triggered.length <= 2, `${triggered.length} upstream_failure probes`);
      assert.ok(triggered.every((c) => !c.ok && /refused/.test(c.error ?? '')));
    } finally {
      await publisher.close();
      await handle.start();
    }
  });

  it('names the check target as the likely problem when it fails through every proxy, and keeps them down', async () => {
    echo.rateLimited = true;
    try {
      const results = [];
      for (const { id } of proxies) results.push(await onDemand(id));
      assert.ok(results.every((r) => !r.ok && /HTTP 429/.test(r.error ?? '')));
      assert.match(results.at(-1)!.error ?? '', /check target is the likely problem/);
      for (const { id } of proxies) assert.equal((await row(id)).status, 'down');
      assert.match(await stack.registry.metrics(), /pgw_health_check_target_suspected\{[^}]*\} 1|pgw_health_check_target_suspected 1/);
    } finally {
      echo.rateLimited = false;
    }
    const recovered = await onDemand(proxies[0]!.id);
    assert.equal(recovered.ok, true);
    assert.match(await stack.registry.metrics(), /pgw_health_check_target_suspected 0/);
  });

  it('never dials a proxy row on the gateway itself (loopback, localhost) or in the LAN: down, the reason named, nothing sent', async () => {
    // What a row written straight into Postgres (not through the api's checks) could point at: a
    // gateway service on loopback. The listener proves that no byte, not even a TCP SYN, reaches it.
    let connections = 0;
    const service = createNetServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => service.once('error', reject).listen(0, '127.0.0.1', resolve));
    const port = (service.address() as AddressInfo).port;
    try {
      const lan = (await database.db.selectFrom('settings').select('lanCidr').executeTakeFirstOrThrow()).lanCidr.replace(/0\/\d+$/, '77');
      for (const [name, host, word] of [['loopback', '127.0.0.1', /loopback/], ['localhost', 'localhost', /loopback/], ['lan', lan, /LAN/]] as const) {
        const { id } = await database.db.insertInto('proxies').values({ name: `forbidden-${name}`, protocol: 'socks5', host, port }).returning('id').executeTakeFirstOrThrow();
        const result = await onDemand(id);
        assert.equal(result.ok, false, `${name}: probed as if allowed`);
        assert.match(result.error ?? '', word, `${name}: ${result.error}`);
        assert.equal((await row(id)).status, 'down');
        await database.db.deleteFrom('proxies').where('id', '=', id).execute();
      }
      assert.equal(connections, 0, 'a forbidden proxy address was connected to');
    } finally {
      service.close();
    }
  });

  it('prunes history older than the retention, in bounded batches', async () => {
    const id = proxies[2]!.id;
    const old = new Date(Date.now() - 40 * 86_400_000);
    await database.db
      .insertInto('proxyChecks')
      .values(Array.from({ length: 12 }, () => ({ proxyId: id, checkedAt: old, ok: true, latencyMs: 5, exitIp: null, error: null, trigger: 'periodic' as const })))
      .execute();
    const recent = (await checks(id)).filter((c) => c.checkedAt > old).length;
    assert.deepEqual(await pruneHistory(stack.healthDb, 30, 5, 2), { deleted: 10, more: true });
    await setSettings({ historyRetentionDays: 30 });
    assert.equal(await stack.health.prune(), 2);
    const left = await checks(id);
    assert.equal(left.filter((c) => c.checkedAt <= old).length, 0);
    assert.equal(left.length, recent);
  });
});
