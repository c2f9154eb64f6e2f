// The built health service inside a lab's gateway namespace, as uid pgw-health with no
// capabilities and Postgres role pgw_health, probing the lab's real WAN proxies (dante with and
// without username auth, tinyproxy) and its IP-echo host across the WAN.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cleanupStaleLabs, createLab, type Lab, type ProxyHandle } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { waitFor } from '../../lab/wait.js';
import { Gateway } from '../support/gateway.js';

const PERIOD_S = 5;
const TIMEOUT_MS = 2000;


describe('health service in the lab gateway', () => {
  let lab: Lab;
  let database: TestDatabase;
  let gateway: Gateway;
  const seeded: { proxy: ProxyHandle; id: number }[] = [];

  const statusOf = (id: number) =>
    database.db.selectFrom('proxies').select(['status', 'exitIp', 'latencyMs', 'lastError']).where('id', '=', id).executeTakeFirstOrThrow();

  before(async () => {
    await cleanupStaleLabs();
    lab = await createLab({ clients: 1, proxies: ['socks5', 'socks5-auth', 'http'] });
    database = await createTestDatabase();
    gateway = new Gateway(lab, database);
    await database.db
      .updateTable('settings')
      .set({ healthIntervalS: PERIOD_S, probeTimeoutMs: TIMEOUT_MS, checkUrl: lab.description.internet.echoUrl, recoverThreshold: 2 })
      .where('id', '=', 1)
      .execute();
    for (const proxy of lab.proxies) seeded.push({ proxy, id: await gateway.seedProxy(proxy) });
    await gateway.start('health');
  });

  after(async () => {
    await gateway?.destroy();
    await database?.drop();
    await lab?.destroy();
  });

  it('runs as pgw-health without capabilities', () => {
    const pid = gateway.process('health')!.pid;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const uid = /^Uid:\s+(\d+)/m.exec(status)![1];
    assert.notEqual(uid, '0');
    assert.match(status, /^CapEff:\s+0+$/m);
    assert.match(status, /^CapPrm:\s+0+$/m);
  });

  it('reports every lab proxy up with its own WAN address as exit IP', async () => {
    for (const { proxy, id } of seeded) {
      const row = await waitFor(`${proxy.kind} up`, PERIOD_S * 1000, async () => {
        const r = await statusOf(id);
        return r.status === 'up' ? r : undefined;
      });
      assert.equal(row.exitIp, proxy.ip, `${proxy.kind} exit IP`);
      assert.ok(row.latencyMs !== null && row.latencyMs > 0);
    }
    const metrics = (await lab.exec(lab.ns.gateway, ['curl', '-sf', 'http://127.0.0.1:9103/metrics'])).stdout;
    for (const { id } of seeded) assert.match(metrics, new RegExp(`^pgw_proxy_up\\{[^}]*proxy="${id}"[^}]*\\} 1$`, 'm'));
  });

  it('reports a killed proxy down within one period plus the probe timeout, and up after two successes', async () => {
    const { proxy, id } = seeded.find((s) => s.proxy.kind === 'socks5-auth')!;
    await proxy.kill();
    const killedAt = Date.now();
    const down = await waitFor('down', PERIOD_S * 1000 + TIMEOUT_MS + 1_000, async () => {
      const r = await statusOf(id);
      return r.status === 'down' ? r : undefined;
    });
    assert.ok(Date.now() - killedAt <= PERIOD_S * 1000 + TIMEOUT_MS + 500, `down after ${Date.now() - killedAt} ms`);
    // Refused once the port is closed; reset for a probe that was in flight when dante died (a CI
    // run: down 84 ms after the kill, the probe's greeting got ECONNRESET).
    assert.match(down.lastError ?? '', new RegExp(`socks5://${proxy.ip.replace(/\./g, '\\.')}:${proxy.port} .*(refused|ECONNRESET)`));

    await proxy.start();
    await waitFor('up again', 2 * PERIOD_S * 1000 + TIMEOUT_MS + 1_000, async () => ((await statusOf(id)).status === 'up' ? true : undefined));
    const { statusChangedAt } = await database.db.selectFrom('proxies').select('statusChangedAt').where('id', '=', id).executeTakeFirstOrThrow();
    const checks = await database.db
      .selectFrom('proxyChecks')
      .select(['ok', 'checkedAt'])
      .where('proxyId', '=', id)
      .where('checkedAt', '>=', new Date(killedAt))
      .orderBy('id')
      .execute();
    // Up exactly at the second consecutive success after the last failure (recoverThreshold 2).
    // The liveness watch may have recorded the down before any probe ran into the dead proxy (a
    // CI run saw it): then no check failed, and every check since the kill is after the restart.
    const lastFailure = checks.map((c) => c.ok).lastIndexOf(false);
    const successes = checks.slice(lastFailure + 1);
    assert.ok(successes.length >= 2, JSON.stringify(checks));
    // statusChangedAt is Postgres' now() in the transaction that recorded that second success (same
    // host clock as the prober's checkedAt here, stamped a moment later), so it falls at or after
    // that probe and before the next one.
    const changed = statusChangedAt?.getTime() ?? Number.NaN;
    const nextProbe = successes[2]?.checkedAt.getTime() ?? Number.POSITIVE_INFINITY;
    assert.ok(changed >= successes[1]!.checkedAt.getTime() && changed < nextProbe, `up at ${statusChangedAt?.toISOString()}, probes ${JSON.stringify(checks)}`);
  });
});
