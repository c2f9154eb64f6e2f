import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MappingFailPolicy } from './fail-policy.js';
import { chooseUpstream, type UpstreamCandidate, upstreamChooser } from './upstream-choice.js';

const HOLD = 30_000;
const NOW = 1_000_000;
const mapping = (over: Partial<MappingFailPolicy & { enabled: boolean }> = {}) => ({ enabled: true, proxyId: 1, failPolicy: 'backup' as const, backupProxyIds: [2, 3], ...over });
const up = (sinceAgoMs: number): UpstreamCandidate => ({ status: 'up', statusSince: NOW - sinceAgoMs });
const down: UpstreamCandidate = { status: 'down', statusSince: NOW - 1 };
const choose = (m: ReturnType<typeof mapping>, proxies: Record<number, UpstreamCandidate>, now = NOW) => chooseUpstream(m, (id) => proxies[id], now, HOLD);

test('closed: the primary while up, blocked with its reason otherwise, whatever the backups', () => {
  const m = mapping({ failPolicy: 'closed' });
  assert.deepEqual(choose(m, { 1: up(5), 2: up(HOLD * 2) }), { proxyId: 1, blocked: null, onBackup: false, recheckAt: null });
  assert.deepEqual(choose(m, { 1: down, 2: up(HOLD * 2) }), { proxyId: 1, blocked: 'proxy_down', onBackup: false, recheckAt: null });
  assert.equal(choose(m, { 1: { status: 'unknown', statusSince: null }, 2: up(HOLD) }).blocked, 'proxy_unknown');
  assert.equal(choose(m, { 2: up(HOLD) }).blocked, 'proxy_unknown', 'a missing primary row is unknown');
});

test('backup: primary down -> the first healthy backup, in the listed order', () => {
  assert.deepEqual(choose(mapping(), { 1: down, 2: up(HOLD), 3: up(HOLD * 3) }), { proxyId: 2, blocked: null, onBackup: true, recheckAt: null });
  assert.equal(choose(mapping({ backupProxyIds: [3, 2] }), { 1: down, 2: up(HOLD), 3: up(HOLD) }).proxyId, 3);
  assert.equal(choose(mapping(), { 1: down, 2: down, 3: up(HOLD) }).proxyId, 3);
  assert.equal(choose(mapping(), { 1: down, 3: up(HOLD) }).proxyId, 3, 'a backup row that is gone is skipped');
});

test('all down: blocked with the primary reason, never direct', () => {
  assert.deepEqual(choose(mapping(), { 1: down, 2: down, 3: { status: 'unknown', statusSince: null } }), { proxyId: 1, blocked: 'proxy_down', onBackup: false, recheckAt: null });
  assert.equal(choose(mapping({ backupProxyIds: [] }), { 1: down }).blocked, 'proxy_down');
});

test('a disabled mapping is blocked even with healthy backups', () => {
  assert.equal(choose(mapping({ enabled: false }), { 1: up(HOLD), 2: up(HOLD) }).blocked, 'mapping_disabled');
});

test('hold-down: a recovered primary is used only after it has been up for the hold-down', () => {
  const proxies = { 1: up(5_000), 2: up(HOLD * 10) };
  const during = choose(mapping(), proxies);
  assert.deepEqual(during, { proxyId: 2, blocked: null, onBackup: true, recheckAt: NOW - 5_000 + HOLD });
  assert.equal(choose(mapping(), proxies, during.recheckAt! - 1).proxyId, 2);
  assert.deepEqual(choose(mapping(), proxies, during.recheckAt!), { proxyId: 1, blocked: null, onBackup: false, recheckAt: null });
});

test('a flapping primary never takes the client back from a settled backup', () => {
  // Each recovery restarts its age; it is down in between.
  for (let t = 0; t < 10; t++) {
    assert.equal(choose(mapping(), { 1: up(HOLD - 1_000), 2: up(HOLD * 10) }).proxyId, 2);
    assert.equal(choose(mapping(), { 1: down, 2: up(HOLD * 10) }).proxyId, 2);
  }
});

test('a recovered primary with no backup up is used at once (better than blocked)', () => {
  assert.deepEqual(choose(mapping(), { 1: up(10), 2: down, 3: down }), { proxyId: 1, blocked: null, onBackup: false, recheckAt: null });
  // ...and a backup that comes up later does not take the client from it: the primary has been up longer.
  assert.equal(choose(mapping(), { 1: up(2_000), 2: up(1_000) }).proxyId, 1);
});

test('none settled: the candidate up longest, and only one move, to the preferred one after its hold-down', () => {
  // Primary down; backup 3 came up 5 s before backup 2.
  const proxies = { 1: down, 2: up(1_000), 3: up(6_000) };
  const first = choose(mapping(), proxies);
  assert.equal(first.proxyId, 3);
  assert.equal(first.recheckAt, NOW - 1_000 + HOLD, 'rechecked when backup 2 settles');
  const seen: number[] = [];
  for (let now = NOW; now <= NOW + HOLD * 2; now += 500) {
    const id = choose(mapping(), proxies, now).proxyId;
    if (seen.at(-1) !== id) seen.push(id);
  }
  assert.deepEqual(seen, [3, 2]);
});

test('the primary listed among its own backups is not counted twice', () => {
  assert.equal(choose(mapping({ backupProxyIds: [1, 2] }), { 1: down, 2: up(HOLD) }).proxyId, 2);
});

test('upstreamChooser: one snapshot, the default hold-down when the setting is absent, closed when the mapping says nothing', () => {
  const proxies = [
    { id: 1, status: 'up' as const, statusSince: NOW - 10_000 },
    { id: 2, status: 'up' as const },
  ];
  const choose = upstreamChooser(proxies, undefined, NOW);
  assert.equal(choose({ enabled: true, proxyId: 1, failPolicy: 'backup', backupProxyIds: [2] }).proxyId, 2, '10 s < the default 30 s');
  assert.equal(upstreamChooser(proxies, 5, NOW)({ enabled: true, proxyId: 1, failPolicy: 'backup', backupProxyIds: [2] }).proxyId, 1);
  assert.equal(choose({ enabled: true, proxyId: 1 }).proxyId, 1);
  assert.equal(choose({ enabled: true, proxyId: 3, backupProxyIds: [2] }).blocked, 'proxy_unknown', 'no policy: closed');
});
