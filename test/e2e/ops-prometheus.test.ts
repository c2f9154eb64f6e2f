// A real Prometheus (Debian's binary) inside a lab's gateway namespace, loading the shipped
// deploy/prometheus files (only the intervals shortened), scrapes every pgw service at its contract
// port and must find each service's pgw metrics through the HTTP API; the alert rules must
// evaluate without error on real data.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { cleanupStaleLabs, createLab, type Lab, type LabProcess } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT, serviceEntry } from '../support/gateway.js';
import { type Poll, waitFor } from '../../lab/wait.js';

const PROMETHEUS_PORT = 9090;
/** What each job must expose (contracts.md), given one effective mapping and one disabled one. */
const EXPECTED: Record<string, string[]> = {
  'pgw-agent': [
    'pgw_agent_reconcile_duration_seconds_bucket', 'pgw_agent_last_success_timestamp_seconds', 'pgw_agent_applied_mappings',
    'pgw_client_blocked', 'pgw_agent_reconcile_errors_total', 'pgw_clients_over_flow_cap_total', 'pgw_clients_over_tcp_rate_total',
  ],
  'pgw-forwarder': [
    'pgw_forwarder_active_connections', 'pgw_forwarder_connections_total', 'pgw_forwarder_bytes_total',
    'pgw_forwarder_upstream_connect_seconds_bucket', 'pgw_forwarder_failures_total', 'pgw_forwarder_max_connections',
  ],
  'pgw-health': ['pgw_proxy_up', 'pgw_proxy_latency_ms', 'pgw_health_probe_duration_seconds_bucket', 'pgw_health_probes_total'],
  'pgw-api': ['pgw_api_http_request_duration_seconds_bucket', 'pgw_api_login_password_checks_total'],
};

/** Prometheus and the services answer once they are up: a failed request only means "not yet". */
const eventually = <T>(what: string, timeoutMs: number, read: Poll<T>) => waitFor(what, timeoutMs, read, { intervalMs: 250, retryErrors: true });

describe('Prometheus scrapes every pgw service in the lab', () => {
  let lab: Lab;
  let database: TestDatabase;
  let gateway: Gateway;
  let api: LabProcess | undefined;
  let prometheus: LabProcess | undefined;

  /** GET on Prometheus' HTTP API from inside the gateway namespace. */
  async function promApi<T>(path: string): Promise<T> {
    const result = await lab.exec(lab.ns.gateway, ['curl', '-sf', '--max-time', '5', `http://127.0.0.1:${PROMETHEUS_PORT}${path}`], { reject: false });
    if (result.exitCode !== 0) throw new Error(`prometheus ${path}: curl exit ${result.exitCode}`);
    const body = JSON.parse(result.stdout) as { status: string; data: T };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${result.stdout.slice(0, 300)}`);
    return body.data;
  }
  const query = (q: string) =>
    promApi<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`).then((d) => d.result);

  before(async () => {
    await cleanupStaleLabs();
    lab = await createLab({ clients: 2, proxies: ['socks5'] });
    database = await createTestDatabase();
    gateway = new Gateway(lab, database);
    await database.db.updateTable('settings').set({ healthIntervalS: 5, checkUrl: lab.description.internet.echoUrl }).where('id', '=', 1).execute();
    const proxyId = await gateway.seedProxy(lab.proxies[0]!, { status: 'up' });
    await gateway.seedMapping(lab.clients[0]!, proxyId, 20000);
    await gateway.seedMapping(lab.clients[1]!, proxyId, 20001, false);
    for (const service of ['agent', 'forwarder', 'health'] as const) await gateway.start(service);

    // The api at its contract ports inside the gateway namespace (gateway.ts puts it on random
    // ports in the machine's namespace), so that the shipped scrape config reaches all four services:
    // its metrics on their own loopback listener (9104), not on the API port.
    api = await lab.spawn(lab.ns.gateway, ['node', serviceEntry('api')], {
      env: { ...gateway.envFor('api'), PGW_API_HOST: '127.0.0.1', PGW_API_PORT: '8080', PGW_API_METRICS_PORT: '9104' },
      uid: 'pgw-api',
      cwd: REPO_ROOT,
      name: 'pgw-api-8080',
      logFile: join(lab.dir, 'pgw-api-8080.log'),
    });
    // One API request, so that the request histogram has a series: Prometheus' scrapes go to the
    // metrics listener and no longer count as API requests.
    await eventually('api answers on 8080', 30_000, async () => {
      const r = await lab.exec(lab.ns.gateway, ['curl', '-sf', '--max-time', '1', 'http://127.0.0.1:8080/healthz'], { reject: false });
      return r.exitCode === 0 ? true : undefined;
    });

    // Traffic, so that the forwarder's labelled series exist: one relayed request, and one the
    // proxy cannot complete (nothing listens on port 81 of the echo host).
    const echo = lab.description.internet;
    await eventually('client 0 relayed through its proxy', 20_000, async () => {
      const r = await lab.httpGet({ ns: lab.ns.lan, url: echo.echoUrl, sourceIp: lab.clients[0]!, timeoutMs: 2000 });
      return r.ok && r.status === 200 ? true : undefined;
    });
    await lab.httpGet({ ns: lab.ns.lan, url: `http://${echo.ip}:81/`, sourceIp: lab.clients[0]!, timeoutMs: 2000 });

    const dir = join(lab.dir, 'prometheus');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const config = parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as { global: Record<string, string> };
    config.global.scrape_interval = '1s';
    config.global.evaluation_interval = '1s';
    writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
    copyFileSync(join(REPO_ROOT, 'deploy/prometheus/alerts.yml'), join(dir, 'alerts.yml'));
    prometheus = await lab.spawn(lab.ns.gateway, [
      'prometheus', `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${PROMETHEUS_PORT}`,
    ], { name: 'prometheus', logFile: join(dir, 'prometheus.log') });
    await eventually('prometheus ready', 30_000, async () => {
      const r = await lab.exec(lab.ns.gateway, ['curl', '-sf', '--max-time', '1', `http://127.0.0.1:${PROMETHEUS_PORT}/-/ready`], { reject: false });
      return r.exitCode === 0 ? true : undefined;
    });
  });

  after(async () => {
    await prometheus?.stop();
    await api?.stop();
    await gateway?.destroy();
    await database?.drop();
    await lab?.destroy();
  });

  it('has every pgw target up', async () => {
    const up = await eventually('all four targets up', 30_000, async () => {
      const result = await query('up{job=~"pgw-.*"} == 1');
      return result.length === 4 ? result : undefined;
    });
    assert.deepEqual(up.map((r) => r.metric.job).sort(), Object.keys(EXPECTED).sort());
  });

  it("finds each service's contract metrics under its job", async () => {
    let absent: string[] = [];
    await eventually('every contract metric', 30_000, async () => {
      absent = [];
      for (const [job, names] of Object.entries(EXPECTED)) {
        const found = new Set((await query(`count by (__name__) ({job="${job}", __name__=~"pgw_.*"})`)).map((r) => r.metric.__name__));
        for (const name of names) if (!found.has(name)) absent.push(`${job}:${name}`);
      }
      return absent.length === 0 ? true : undefined;
    }).catch(() => undefined);
    const missing = absent;
    assert.deepEqual(missing, []);
  });

  it('sees the lab state in the metrics: one mapping applied, the disabled one blocked, the proxy up', async () => {
    const applied = await eventually('applied mappings = 1', 30_000, async () => {
      const r = await query('pgw_agent_applied_mappings');
      return r[0]?.value[1] === '1' ? r : undefined;
    });
    assert.equal(applied.length, 1);
    const blocked = await query('pgw_client_blocked == 1');
    assert.deepEqual(blocked.map((r) => [r.metric.client, r.metric.reason]), [[lab.clients[1], 'mapping_disabled']]);
    const up = await eventually('proxy probed up', 30_000, async () => {
      const r = await query('pgw_proxy_up == 1');
      return r.length === 1 ? r : undefined;
    });
    assert.equal(up.length, 1);
  });

  it('loads the shipped alert rules and evaluates them without error', async () => {
    const data = await eventually('rules evaluated', 30_000, async () => {
      const d = await promApi<{ groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] }>('/api/v1/rules?type=alert');
      const rules = d.groups.flatMap((g) => g.rules);
      return rules.length > 0 && rules.every((r) => !r.lastEvaluation.startsWith('0001')) ? rules : undefined;
    });
    // Every rule of the shipped file, by name (a count alone said nothing of which one was missing).
    const shipped = [...readFileSync(join(REPO_ROOT, 'deploy/prometheus/alerts.yml'), 'utf8').matchAll(/^\s*- alert: (\S+)$/gm)].map((m) => m[1]!).sort();
    assert.deepEqual(data.map((r) => r.name).sort(), shipped);
    for (const rule of data) assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`);
  });
});
