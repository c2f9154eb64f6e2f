// The Prometheus deployment files: promtool (Debian's prometheus package) checks the scrape config and
// the alert rules and runs the rules' unit tests; the rules use only metric names the services define.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(REPO, 'deploy/prometheus');
/** Scrape targets fixed by the contracts: api 9104 (its metrics listener), agent 9101, forwarder 9102, health 9103. */
const TARGETS = { 'pgw-api': '127.0.0.1:9104', 'pgw-agent': '127.0.0.1:9101', 'pgw-forwarder': '127.0.0.1:9102', 'pgw-health': '127.0.0.1:9103' };
const REQUIRED_ALERTS = ['PgwServiceDown', 'PgwProxyDown', 'PgwClientBlocked', 'PgwReconcileFailing', 'PgwReconcileErrors', 'PgwClientsAtFlowCap', 'PgwClientsOverTcpRate', 'PgwForwarderSaturated', 'PgwGuardNotCoveringLan', 'PgwHealthNoLeader', 'PgwRouteLocalnetAllOpen'];

function promtool(args: string[], cwd = DIR) {
  return spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
}

interface Rule {
  alert: string;
  expr: string;
}
const rules = (parse(readFileSync(join(DIR, 'alerts.yml'), 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/** Metric names the services register (`name: 'pgw_...'` in their source). */
function definedMetricNames(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) {
        for (const match of readFileSync(path, 'utf8').matchAll(/name:\s*'(pgw_[a-z0-9_]+)'/g)) names.add(match[1]!);
      }
    }
  };
  for (const service of ['agent', 'forwarder', 'health', 'api']) walk(join(REPO, 'services', service, 'src'));
  return names;
}

describe('promtool', () => {
  it('check config: prometheus.yml and the rule file it loads are valid', () => {
    const result = promtool(['check', 'config', 'prometheus.yml']);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS: 1 rule files found/);
  });

  it('check rules: alerts.yml is valid', () => {
    const result = promtool(['check', 'rules', 'alerts.yml']);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('test rules: every alert fires on its failure and stays quiet otherwise', () => {
    const result = promtool(['test', 'rules', 'alerts.test.yml']);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    const tested = new Set([...readFileSync(join(DIR, 'alerts.test.yml'), 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
    for (const alert of rules.map((r) => r.alert)) assert.ok(tested.has(alert), `${alert} has no unit test`);
  });

  it('test rules fails on a weakened rule (negative control)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgw-ops-prom-'));
    try {
      copyFileSync(join(DIR, 'alerts.test.yml'), join(dir, 'alerts.test.yml'));
      writeFileSync(join(dir, 'alerts.yml'), readFileSync(join(DIR, 'alerts.yml'), 'utf8').replace('> 0.9', '> 0.99'));
      const result = promtool(['test', 'rules', 'alerts.test.yml'], dir);
      assert.notEqual(result.status, 0);
      assert.match(result.stdout + result.stderr, /PgwForwarderSaturated/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('scrape config and rules against the contracts', () => {
  it('scrapes every service at its contract port', () => {
    const config = parse(readFileSync(join(DIR, 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
    };
    const jobs = Object.fromEntries(config.scrape_configs.map((c) => [c.job_name, c.static_configs.flatMap((s) => s.targets)]));
    assert.deepEqual(jobs, Object.fromEntries(Object.entries(TARGETS).map(([job, target]) => [job, [target]])));
  });

  it('has the required alerts', () => {
    assert.deepEqual(rules.map((r) => r.alert).sort(), [...REQUIRED_ALERTS].sort());
  });

  it('uses only metric names that the services define', () => {
    const defined = definedMetricNames();
    for (const rule of rules) {
      for (const [name] of rule.expr.matchAll(/\bpgw_[a-z0-9_]+/g)) {
        assert.ok(defined.has(name), `${rule.alert}: ${name} is not registered by any service (services/*/src)`);
      }
    }
  });
});
