import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort } from '@pgw/domain';
import { agentStatus, StatusReporter } from './status.js';

describe('agentStatus', () => {
  it('shows per client why it is blocked, the rejected mappings, the refusals and the errors', () => {
    const status = agentStatus(
      {
        trigger: 'resync',
        mode: 'delta',
        ok: false,
        durationMs: 12.345,
        drift: [],
        refusals: [{ subject: 'mapping 4 (192.168.2.12)', reason: 'port refused (9103 is pgw-health metrics)' }],
        phases: {},
        tableInForce: true,
        errors: [{ cause: 'conntrack', message: 'conntrack -D failed for 1 client(s)' }],
        build: {
          policy: {
            lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
            wan: { interface: parseInterfaceName('eth0') },
            dnsMode: 'drop',
            clients: [
              { mappingId: 1, proxyId: 1, ip: parseIpv4('192.168.2.10'), port: parsePort(20000), blocked: null },
              { mappingId: 2, proxyId: 2, ip: parseIpv4('192.168.2.11'), port: parsePort(20001), blocked: 'proxy_down' },
            ],
            strictOutput: null,
          },
          rejected: [{ mappingId: 3, reason: 'client 10.0.0.1 is outside the LAN 192.168.2.0/24' }],
          refusals: [{ subject: 'mapping 4 (192.168.2.12)', reason: 'port refused (9103 is pgw-health metrics)' }],
        },
      },
      new Date('2025-01-01T00:00:00Z'),
    );
    assert.deepEqual(status, {
      ok: false,
      at: '2025-01-01T00:00:00.000Z',
      durationMs: 12.3,
      appliedMappings: 1,
      blocked: { '192.168.2.11': 'proxy_down' },
      rejected: [{ mappingId: 3, reason: 'client 10.0.0.1 is outside the LAN 192.168.2.0/24' }],
      refusals: [{ subject: 'mapping 4 (192.168.2.12)', reason: 'port refused (9103 is pgw-health metrics)' }],
      quotaExceeded: {},
      error: 'conntrack: conntrack -D failed for 1 client(s)',
    });
  });

  it('a client over its quota is blocked as quota_exceeded with its count; another reason comes first', () => {
    const client = (last: number, blocked: 'proxy_down' | null) => ({ mappingId: last, proxyId: 1, ip: parseIpv4(`192.168.2.${last}`), port: parsePort(20000 + last), blocked });
    const status = agentStatus(
      {
        trigger: 'quota',
        mode: 'delta',
        ok: true,
        durationMs: 1,
        drift: [],
        refusals: [],
        phases: {},
        tableInForce: true,
        errors: [],
        build: {
          policy: {
            lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
            wan: { interface: parseInterfaceName('eth0') },
            dnsMode: 'drop',
            clients: [client(10, null), client(11, 'proxy_down'), client(12, null)],
            strictOutput: null,
          },
          rejected: [],
          refusals: [],
        },
      },
      new Date('2025-01-01T00:00:00Z'),
      new Map([
        [10, { name: 'q10_0', bytes: 10_000_000, used: 10_000_500 }],
        [11, { name: 'q11_0', bytes: 10_000_000, used: 10_000_500 }],
      ]),
    );
    assert.equal(status.appliedMappings, 1);
    assert.deepEqual(status.blocked, { '192.168.2.10': 'quota_exceeded', '192.168.2.11': 'proxy_down' });
    assert.deepEqual(status.quotaExceeded!['192.168.2.10'], { mappingId: 10, quotaBytes: 10_000_000, usedBytes: 10_000_500 });
  });
});

describe('agentStatus with the shaping not in force', () => {
  it('a rate limit or quota table the agent could not apply is said in the status (it was only logged: a quota client unlimited, nothing shown); the mappings stay applied', () => {
    const outcome = { trigger: 'resync', mode: 'none' as const, ok: true, durationMs: 1, drift: [], refusals: [], phases: {}, errors: [], build: null, tableInForce: true };
    const status = agentStatus(outcome, new Date('2025-01-01T00:00:00Z'), new Map(), 'quota: nft -f - failed (exit 1): Error: Could not process rule: No such file or directory');
    assert.equal(status.ok, true, 'the ruleset is in force: the console shows the mappings applied');
    assert.equal(status.error, 'shaping: quota: nft -f - failed (exit 1): Error: Could not process rule: No such file or directory');
    assert.deepEqual([agentStatus(outcome, new Date(), new Map(), null).ok, agentStatus(outcome, new Date(), new Map(), null).error], [true, null]);
  });

  it('a LAN the guard does not cover is said in the status error while ok stays the ruleset\'s', () => {
    const guardRefused = { subject: 'lanInterface', reason: 'lanInterface "lan2" is not the guard\'s LAN interface "ens19"' };
    const build = { policy: { clients: [] }, rejected: [], refusals: [], guardRefused };
    const outcome = { trigger: 'resync', mode: 'none' as const, ok: true, durationMs: 1, drift: [], refusals: [guardRefused], phases: {}, errors: [], build: build as never, tableInForce: true };
    const status = agentStatus(outcome, new Date('2025-01-01T00:00:00Z'));
    assert.deepEqual([status.ok, status.error], [true, `guard: ${guardRefused.reason}`]);
  });

  it('all.route_localnet on is said in the status error, after the guard, while ok stays the ruleset\'s', () => {
    const guardRefused = { subject: 'lanInterface', reason: 'lanInterface "lan2" is not the guard\'s LAN interface "ens19"' };
    const localnetRefused = { subject: 'route_localnet', reason: 'net.ipv4.conf.all.route_localnet is 1' };
    const build = { policy: { clients: [] }, rejected: [], refusals: [], guardRefused, localnetRefused };
    const outcome = { trigger: 'resync', mode: 'none' as const, ok: true, durationMs: 1, drift: [], refusals: [guardRefused, localnetRefused], phases: {}, errors: [], build: build as never, tableInForce: true };
    const status = agentStatus(outcome, new Date('2025-01-01T00:00:00Z'));
    assert.deepEqual([status.ok, status.error], [true, `guard: ${guardRefused.reason}; route_localnet: ${localnetRefused.reason}`]);
  });
});

describe('StatusReporter: agent.reconciled notices', () => {
  it('a failure that lasts is told once, a new one and the recovery each once more; a run that changed something always', async () => {
    const published: { ok: boolean; error: string | null }[] = [];
    const pipeline = () => {
      const p = { set: () => p, zadd: () => p, zremrangebyscore: () => p, exec: async () => [] };
      return p;
    };
    const reporter = new StatusReporter({ pipeline } as never, { publish: async (e: { ok: boolean; error: string | null }) => void published.push(e) } as never, { warn() {} } as never, 'gw');
    const run = (mode: 'none' | 'delta', error: string | null) =>
      reporter.report({ trigger: 'resync', mode, ok: error === null, durationMs: 3, build: null, errors: error === null ? [] : [{ cause: 'state_file', message: error }], drift: [], refusals: [], phases: {}, tableInForce: true } as never);
    for (let i = 0; i < 30; i++) run('none', 'ENOSPC: no space left on device');
    run('none', 'EACCES: permission denied');
    run('none', 'EACCES: permission denied');
    run('none', null);
    run('none', null);
    run('delta', null);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(published.map((e) => [e.ok, e.error]), [
      [false, 'state_file: ENOSPC: no space left on device'],
      [false, 'state_file: EACCES: permission denied'],
      [true, null],
      [true, null],
    ]);
  });
});
