import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import type { PolicyClient } from '@pgw/domain';
import { gatewayPolicy, policyClient } from '../policy/policy-fixtures.js';
import { parseTcClasses, parseTcFilters, renderTcPlan, tcFilterKey, tcShownKbit } from './render-shaping.js';

const client = (last: number, shaping?: PolicyClient['shaping']) => policyClient(last, shaping ? { shaping } : {});
const policy = gatewayPolicy;
const limited = { rateDownKbit: 50_000, rateUpKbit: 20_000, quotaBytes: 10_000_000, quotaEpoch: 0 };

test('no limited client: no tc plan at all (nothing of ours on the interface)', () => {
  const plan = renderTcPlan(policy([client(10), client(11)]));
  assert.deepEqual(plan.batch, []);
  assert.equal(plan.ifb, false);
});

test('download shaped on the LAN egress by destination, upload via IFB by source, only limited clients redirected', () => {
  const plan = renderTcPlan(policy([client(10, limited), client(11), client(12, { ...limited, rateUpKbit: null })]));
  assert.equal(plan.ifb, true);
  assert.deepEqual(
    plan.classes.map((c) => `${c.dev} ${c.classid} ${c.ip} ${c.rateKbit}`),
    ['ens19 1:1 192.168.2.10 50000', 'ens19 1:2 192.168.2.12 50000', 'pgw-ifb0 1:1 192.168.2.10 20000'],
  );
  const text = plan.batch.join('\n');
  assert.match(text, /filter add dev ens19 parent 1: .* match ip dst 192\.168\.2\.10\/32 flowid 1:1/);
  assert.match(text, /filter add dev ens19 parent ffff: .* match ip src 192\.168\.2\.10\/32 action mirred egress redirect dev pgw-ifb0/);
  assert.doesNotMatch(text, /192\.168\.2\.11/);
  assert.doesNotMatch(text, /parent ffff: .*192\.168\.2\.12/);
});

test('a client pinned to its MAC: the upload filter matches that source MAC too (a spoofer with its address filled its class)', () => {
  const pinned = policyClient(10, { shaping: limited, mac: '02:00:00:ab:cd:ef' as never });
  const text = renderTcPlan(policy([pinned, client(11, limited)])).batch.join('\n');
  assert.match(text, /parent ffff: .* match ip src 192\.168\.2\.10\/32 match u32 0x020000ab 0xffffffff at -8 match u16 0xcdef 0xffff at -4 action mirred/);
  assert.match(text, /parent ffff: .* match ip src 192\.168\.2\.11\/32 action mirred/, 'an unpinned client: by address alone');
  assert.throws(() => renderTcPlan(policy([{ ...pinned, mac: 'ff:ff:ff:ff:ff:ff' as never }])), /not a unicast MAC/);
});

test('a rate or address forced past the types is refused before tc', () => {
  assert.throws(() => renderTcPlan(policy([client(10, { ...limited, rateDownKbit: 1 })])), /not a rate/);
  assert.throws(() => renderTcPlan(policy([{ ...client(10, limited), ip: '1.2.3.4; reboot' as never }])), /not an IPv4/);
});

test('tc class text', () => {
  const text = 'class htb 1:1 root prio 0 rate 50Mbit ceil 50Mbit burst 256Kb cburst 256Kb \nclass htb 1:2 root prio 0 rate 64Kbit ceil 64Kbit burst 256Kb cburst 256Kb \n';
  assert.deepEqual(parseTcClasses(text), [
    { classid: '1:1', rateKbit: 50_000 },
    { classid: '1:2', rateKbit: 64 },
  ]);
});

test('a rate as tc shows it back: whole units kept, 1 Gbit/s and more truncated to whole Mbit/s (as `tc class show` printed them)', () => {
  // Each pair: the rate set, and what `tc class show` printed for it on this kernel's iproute2.
  for (const [set, shown] of [
    [1001, 1001],
    [64, 64],
    [50_000, 50_000],
    [123_457, 123_457],
    [1_000_000, 1_000_000],
    [1_234_567, 1_234_000],
    [9_999_999, 9_999_000],
    [10_000_000, 10_000_000],
  ] as const) {
    assert.equal(tcShownKbit(set), shown, String(set));
  }
});

describe('parseTcFilters', () => {
  it('reads the u32 filters as tc 6.1 lists them (a class target, a redirect), in the keys renderTcPlan plans', () => {
    const egress = [
      'filter protocol ip pref 1 u32 chain 0 ',
      'filter protocol ip pref 1 u32 chain 0 fh 800: ht divisor 1 ',
      'filter protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 *flowid 1:1 not_in_hw ',
      '  match c0a8020a/ffffffff at 16',
      'filter protocol ip pref 1 u32 chain 0 fh 800::801 order 2049 key ht 800 bkt 0 *flowid 1:a not_in_hw ',
      '  match c0a8020b/ffffffff at 16',
    ].join('\n');
    assert.deepEqual(parseTcFilters(egress), [tcFilterKey('192.168.2.10', 16, '1:1'), tcFilterKey('192.168.2.11', 16, '1:a')]);
    const ingress = [
      'filter protocol ip pref 1 u32 chain 0 ',
      'filter protocol ip pref 1 u32 chain 0 fh 800: ht divisor 1 ',
      'filter protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 terminal flowid not_in_hw ',
      '  match c0a8020b/ffffffff at 12',
      '\taction order 1: mirred (Egress Redirect to device pgw-ifb0) stolen',
      '\tindex 1 ref 1 bind 1',
    ].join('\n');
    assert.deepEqual(parseTcFilters(ingress), [tcFilterKey('192.168.2.11', 12, null)]);
    assert.deepEqual(parseTcFilters(''), []);
  });

  it("reads a pinned client's source MAC keys with its address, so a filter rewritten by address alone is drift", () => {
    const pinned = [
      'filter protocol ip pref 1 u32 chain 0 fh 800::800 order 2048 key ht 800 bkt 0 terminal flowid not_in_hw ',
      '  match c0a8020a/ffffffff at 12',
      '  match 020000ab/ffffffff at -8',
      '  match cdef0000/ffff0000 at -4',
      '\taction order 1: mirred (Egress Redirect to device pgw-ifb0) stolen',
    ].join('\n');
    assert.deepEqual(parseTcFilters(pinned), [tcFilterKey('192.168.2.10', 12, null, '02:00:00:ab:cd:ef')]);
    const addressOnly = pinned.split('\n').filter((line) => !/at -/.test(line)).join('\n');
    assert.notDeepEqual(parseTcFilters(addressOnly), parseTcFilters(pinned));
  });

  it('a plan lists the filters it writes, per device and parent', () => {
    const plan = renderTcPlan(policy([client(10, { ...limited, rateUpKbit: null }), client(11, limited)]));
    assert.deepEqual([...plan.filters.keys()].sort(), ['ens19 1:', 'ens19 ffff:', 'pgw-ifb0 1:']);
    assert.deepEqual(plan.filters.get('ens19 ffff:'), [tcFilterKey('192.168.2.11', 12, null)]);
  });
});
