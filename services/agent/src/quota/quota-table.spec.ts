import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GatewayPolicy, PolicyClient } from '@pgw/domain';
import { gatewayPolicy, policyClient } from '../policy/policy-fixtures.js';
import { EMPTY_READING, parseQuotaTable, type QuotaTableReading, quotaExceeded, quotaName, quotasBelowSeed, quotaTableDrift, renderQuotaScript } from './quota-table.js';

const client = (last: number, shaping?: PolicyClient['shaping']) => policyClient(last, shaping ? { shaping } : {});
const policy = gatewayPolicy;
const quota = { rateDownKbit: null, rateUpKbit: null, quotaBytes: 10_000_000, quotaEpoch: 0 };
const P = 'm202612';
const counter = (bytes: number) => ({ packets: Math.ceil(bytes / 1000), bytes });

/** A reading as the kernel would list the rendered table, with these quota counts and set counters. */
function reading(p: GatewayPolicy, used: Record<string, number> = {}, counts: Record<string, number> = {}, since = 1_700_000_000): QuotaTableReading {
  const quotas = new Map<string, { name: string; bytes: number; used: number }>();
  const quotaMap = new Map<string, string>();
  for (const c of p.clients) {
    if (c.shaping?.quotaBytes == null) continue;
    const name = quotaName(c.mappingId, c.shaping.quotaEpoch, P);
    quotas.set(name, { name, bytes: c.shaping.quotaBytes, used: used[name] ?? 0 });
    quotaMap.set(c.ip, name);
  }
  const set = () => new Map(p.clients.map((c) => [c.ip as string, counter(counts[c.ip] ?? 0)]));
  return { present: new Set(['pgw_quota', 'pgw_acct'] as const), since, quotas, counters: { up: set(), down: set(), flows: set() }, quotaMap, rules: new Map([['pgw_quota quota_up', 1], ['pgw_quota quota_down', 1], ['pgw_acct acct_up', 2], ['pgw_acct acct_down', 1]]) };
}

test('new tables: quota objects with no count, every mapped client in the three counter sets, since = now', () => {
  const p = policy([client(10, quota), client(11)]);
  const script = renderQuotaScript(p, P, EMPTY_READING, EMPTY_READING, 1_764_600_000.7);
  assert.match(script, /add quota inet pgw_quota q10_0_m202612 \{ over 10000000 bytes used 0 bytes \}/);
  assert.match(script, /add element inet pgw_quota client_quota \{ 192\.168\.2\.10 : "q10_0_m202612" \}/);
  assert.match(script, /add rule inet pgw_quota quota_up iifname "ens19" quota name ip saddr map @client_quota drop\n/);
  assert.match(script, /add rule inet pgw_quota quota_down oifname "ens19" quota name ip daddr map @client_quota drop\n/);
  // Upload counted only after table inet pgw's from_lan (-150: MAC pin, mapped, TCP), the quota first
  // (-148), then the counters (-147); download: the quota's drop (-160) before the counters (-155).
  assert.match(script, /add chain inet pgw_quota quota_up \{ type filter hook prerouting priority -148;/);
  assert.match(script, /add set inet pgw_acct acct_up \{ type ipv4_addr; counter; \}/);
  assert.match(script, /add chain inet pgw_acct acct_up \{ type filter hook prerouting priority -147;/);
  assert.match(script, /add chain inet pgw_acct acct_down \{ type filter hook postrouting priority -155;/);
  assert.match(script, /add rule inet pgw_acct acct_up iifname "ens19" ip saddr @acct_up\nadd rule inet pgw_acct acct_up iifname "ens19" ct state new ip saddr @acct_new\nadd rule inet pgw_acct acct_down oifname "ens19" ip daddr @acct_down\n/);
  for (const set of ['acct_up', 'acct_down', 'acct_new']) assert.match(script, new RegExp(`add element inet pgw_acct ${set} \\{ 192\\.168\\.2\\.10, 192\\.168\\.2\\.11 \\}`));
  assert.match(script, /add counter inet pgw_acct since \{ packets 1764600000 bytes 0 \}/);
});

test('a table in force: nothing of objects or elements rewritten, no drift', () => {
  const p = policy([client(10, quota), client(11)]);
  const listed = reading(p, { q10_0_m202612: 777 }, { '192.168.2.11': 5000 });
  assert.deepEqual(quotaTableDrift(p, P, listed), []);
  const script = renderQuotaScript(p, P, listed, listed, 0);
  assert.doesNotMatch(script, /add quota|delete quota|acct_\w+ \{ 192|delete element|add counter/);
});

test('a raised limit keeps the count; a reset (epoch) or a new period is a fresh object, the old one deleted after the map flush', () => {
  const p = policy([client(10, quota)]);
  const listed = reading(p, { q10_0_m202612: 777 });
  const raised = renderQuotaScript(policy([client(10, { ...quota, quotaBytes: 20_000_000 })]), P, listed, listed, 0);
  assert.match(raised, /delete quota inet pgw_quota q10_0_m202612\nadd quota inet pgw_quota q10_0_m202612 \{ over 20000000 bytes used 777 bytes \}/);
  const reset = renderQuotaScript(policy([client(10, { ...quota, quotaEpoch: 1 })]), P, listed, listed, 0);
  assert.match(reset, /add quota inet pgw_quota q10_1_m202612 \{ over 10000000 bytes used 0 bytes \}/);
  assert.match(reset, /delete quota inet pgw_quota q10_0_m202612\n/);
  assert.ok(reset.indexOf('flush map') < reset.indexOf('delete quota'));
  const nextMonth = renderQuotaScript(p, 'm202701', listed, listed, 0);
  assert.match(nextMonth, /add quota inet pgw_quota q10_0_m202701 \{ over 10000000 bytes used 0 bytes \}/);
  assert.match(nextMonth, /delete quota inet pgw_quota q10_0_m202612\n/);
});

test("another writer's delete: the table comes back with the remembered counts and since, an over-quota client still over", () => {
  const p = policy([client(10, quota), client(11)]);
  const remembered = reading(p, { q10_0_m202612: 10_000_000 }, { '192.168.2.10': 4_000_000, '192.168.2.11': 123_456 }, 1_700_000_000);
  assert.deepEqual(quotaTableDrift(p, P, EMPTY_READING), ['table inet pgw_quota missing', 'table inet pgw_acct missing']);
  const script = renderQuotaScript(p, P, EMPTY_READING, remembered, 1_800_000_000);
  assert.match(script, /add quota inet pgw_quota q10_0_m202612 \{ over 10000000 bytes used 10000000 bytes \}/);
  assert.match(script, /add element inet pgw_acct acct_down \{ 192\.168\.2\.10 counter packets 4000 bytes 4000000, 192\.168\.2\.11 counter packets 124 bytes 123456 \}/);
  assert.match(script, /add counter inet pgw_acct since \{ packets 1700000000 bytes 0 \}/);
});

test('after a reboot or failover: a quota object counts the largest of kernel, remembered and stored count, capped at its limit', () => {
  const p = policy([client(10, quota), client(11, quota), client(12, quota)]);
  // The kernel restarted counting (a few bytes since); node a had published 6 MB for 10, 12 MB (over) for 12.
  const listed = reading(p, { q10_0_m202612: 4_000, q11_0_m202612: 2_000_000, q12_0_m202612: 0 });
  const stored = new Map([['q10_0_m202612', 6_000_000], ['q11_0_m202612', 1_000_000], ['q12_0_m202612', 12_000_000]]);
  assert.deepEqual(quotasBelowSeed(p, P, listed, listed, stored), ['quota q10_0_m202612 counts 4000 bytes, 6000000 known', 'quota q12_0_m202612 counts 0 bytes, 10000000 known']);
  const script = renderQuotaScript(p, P, listed, listed, 0, stored);
  assert.match(script, /delete quota inet pgw_quota q10_0_m202612\nadd quota inet pgw_quota q10_0_m202612 \{ over 10000000 bytes used 6000000 bytes \}/);
  assert.match(script, /add quota inet pgw_quota q12_0_m202612 \{ over 10000000 bytes used 10000000 bytes \}/);
  // The kernel's count is the larger one: kept as it is.
  assert.doesNotMatch(script, /q11_0_m202612 \{/);
  // A new table (the kernel lost everything) is created with the stored counts.
  assert.match(renderQuotaScript(p, P, EMPTY_READING, EMPTY_READING, 0, stored), /add quota inet pgw_quota q10_0_m202612 \{ over 10000000 bytes used 6000000 bytes \}/);
  // Nothing known above the kernel: nothing to raise, nothing rewritten.
  const counted = reading(p, { q10_0_m202612: 6_000_000, q11_0_m202612: 2_000_000, q12_0_m202612: 10_000_000 });
  assert.deepEqual(quotasBelowSeed(p, P, counted, counted, stored), []);
  assert.doesNotMatch(renderQuotaScript(p, P, counted, counted, 0, stored), /add quota|delete quota/);
});

test('a flush (rules gone, objects kept) and a missing element are drift; an unmapped client is deleted from the sets', () => {
  const p = policy([client(10, quota), client(11)]);
  const flushed = { ...reading(p), rules: new Map() };
  assert.match(quotaTableDrift(p, P, flushed).join(), /chain quota_up: no rules, 1 expected.*chain acct_up: no rules, 2 expected/);
  assert.doesNotMatch(quotaTableDrift(p, P, flushed, ['pgw_quota']).join(), /acct_up/);
  const partial = reading(policy([client(10, quota)]));
  assert.match(quotaTableDrift(p, P, partial).join(), /set acct_up: 1 elements, 2 clients/);
  const fewer = renderQuotaScript(policy([client(10, quota)]), P, reading(p), reading(p), 0);
  assert.match(fewer, /delete element inet pgw_acct acct_new \{ 192\.168\.2\.11 \}/);
});

test('over quota is the kernel count at the limit, for the current epoch and period only', () => {
  const p = policy([client(10, quota), client(11, { ...quota, quotaEpoch: 2 }), client(12, quota)]);
  const q = (name: string, used: number) => [name, { name, bytes: 10_000_000, used }] as const;
  const over = quotaExceeded(p, P, new Map([q('q10_0_m202612', 10_000_000), q('q12_0_m202612', 9_999_999), q('q11_1_m202612', 10_000_000), q('q11_2_m202611', 10_000_000)]));
  assert.deepEqual([...over.entries()].map(([id, o]) => [id, o.name]), [[10, 'q10_0_m202612']]);
});

test('forced values are refused before nft', () => {
  assert.throws(() => quotaName(1, 0, 'm2026; flush ruleset'), /refusing/);
  assert.throws(() => renderQuotaScript(policy([client(10, { ...quota, quotaBytes: 5 })]), P, EMPTY_READING, EMPTY_READING, 0), /not a quota/);
});

test('the listings of both tables: objects, since, set counters, the map and rules per chain', () => {
  const quotaJson = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'pgw_quota', handle: 9 } },
      { quota: { family: 'inet', name: 'q1_0_m202612', table: 'pgw_quota', handle: 6, bytes: 10000000, used: 123, inv: true } },
      { map: { family: 'inet', name: 'client_quota', table: 'pgw_quota', type: 'ipv4_addr', map: 'quota', elem: [['192.168.2.10', 'q1_0_m202612']] } },
      { chain: { family: 'inet', table: 'pgw_quota', name: 'quota_up' } },
      { rule: { family: 'inet', table: 'pgw_quota', chain: 'quota_up', handle: 10, expr: [] } },
    ],
  });
  const acctJson = JSON.stringify({
    nftables: [
      { table: { family: 'inet', name: 'pgw_acct', handle: 10 } },
      { counter: { family: 'inet', name: 'since', table: 'pgw_acct', handle: 7, packets: 1764600000, bytes: 0 } },
      { set: { family: 'inet', name: 'acct_up', table: 'pgw_acct', type: 'ipv4_addr', handle: 3, elem: [{ elem: { val: '192.168.2.10', counter: { packets: 5, bytes: 100 } } }], stmt: [{ counter: null }] } },
      { set: { family: 'inet', name: 'acct_down', table: 'pgw_acct', type: 'ipv4_addr', handle: 4 } },
      { rule: { family: 'inet', table: 'pgw_acct', chain: 'acct_up', handle: 11, expr: [] } },
      { rule: { family: 'inet', table: 'pgw_acct', chain: 'acct_up', handle: 12, expr: [] } },
    ],
  });
  const r = parseQuotaTable(quotaJson, acctJson);
  assert.deepEqual([...r.present], ['pgw_quota', 'pgw_acct']);
  assert.equal(r.since, 1_764_600_000);
  assert.deepEqual(r.quotas.get('q1_0_m202612'), { name: 'q1_0_m202612', bytes: 10_000_000, used: 123 });
  assert.deepEqual(r.counters.up.get('192.168.2.10'), { packets: 5, bytes: 100 });
  assert.equal(r.counters.down.size, 0);
  assert.equal(r.quotaMap.get('192.168.2.10'), 'q1_0_m202612');
  assert.equal(r.rules.get('pgw_quota quota_up'), 1);
  assert.equal(r.rules.get('pgw_acct acct_up'), 2);
  assert.equal(parseQuotaTable(null, acctJson).present.has('pgw_quota'), false);
});
