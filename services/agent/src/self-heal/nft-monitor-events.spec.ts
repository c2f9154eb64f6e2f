import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergePlans, NftMonitorParser, type NftTransaction, OwnWriters, planHeal } from './nft-monitor-events.js';

/** Feeds lines, returns the transactions closed by them. */
function parse(text: string): NftTransaction[] {
  const parser = new NftMonitorParser();
  return text
    .trim()
    .split('\n')
    .map((l) => parser.line(l.trim()))
    .filter((t): t is NftTransaction => t !== null);
}

// Lines as nft 1.0.6 printed them in a lab namespace (rules and elements shortened).
const GUARD_LOAD = `
add table inet pgw_guard
delete table inet pgw_guard
add table inet pgw_guard
add chain inet pgw_guard forward { type filter hook forward priority filter - 10; policy accept; }
add rule inet pgw_guard forward iifname "ens19" drop
# new generation 11 by process 25458 (nft)`;
const PGW_APPLY = `
add table inet pgw
delete table inet pgw
add table inet pgw
add chain inet pgw from_lan
add map inet pgw client_port { type ipv4_addr : inet_service; }
add rule inet pgw from_lan handle 14 ip daddr 127.0.0.0/8 drop
add element inet pgw client_port { 192.168.2.10 : 20010 }
# new generation 12 by process 25467 (nft)`;
const FLUSH_RULESET = `
delete rule inet pgw_guard forward handle 3
delete chain inet pgw_guard forward
delete table inet pgw_guard
delete rule inet pgw lan_prerouting handle 13
delete set inet pgw lan_mapped
delete chain inet pgw lan_prerouting
delete table inet pgw
delete table ip nat
# new generation 13 by process 25482 (nft)`;

describe('NftMonitorParser', () => {
  it('closes a transaction at its generation line, with the writer pid and comm', () => {
    const [t] = parse(GUARD_LOAD);
    assert.equal(t!.generation, 11);
    assert.equal(t!.pid, 25458);
    assert.equal(t!.process, 'nft');
    assert.deepEqual([...t!.changes], [['guard', 'replaced']]);
  });

  it('a whole-table apply is a replacement, even when the monitor drops its first "add table" line', () => {
    assert.deepEqual([...parse(PGW_APPLY)[0]!.changes], [['pgw', 'replaced']]);
    const withoutFirst = PGW_APPLY.replace('add table inet pgw\n', '');
    assert.deepEqual([...parse(withoutFirst)[0]!.changes], [['pgw', 'replaced']]);
  });

  it('`nft flush ruleset` removes both tables in one transaction (and other tables are ignored)', () => {
    const transactions = parse(FLUSH_RULESET);
    assert.equal(transactions.length, 1);
    assert.deepEqual(Object.fromEntries(transactions[0]!.changes), { guard: 'removed', pgw: 'removed' });
  });

  it('chain, rule, set and element changes without a table replacement are edits', () => {
    for (const line of [
      'delete chain inet pgw lan_input',
      'delete rule inet pgw lan_input handle 27',
      'delete element inet pgw client_port { 192.168.2.10 : 20010 }',
      'add element inet pgw lan_mapped { 192.168.2.99 }',
      'add rule inet pgw_guard forward accept',
      // `nft create element` and `nft insert rule` are printed with their own verbs.
      'create element inet pgw lan_mapped { 192.168.2.98 }',
      'insert rule inet pgw_guard forward accept',
    ]) {
      const [t] = parse(`${line}\n# new generation 7 by process 1 (nft)`);
      assert.deepEqual([...t!.changes.values()], ['edited'], line);
    }
  });

  it('tables of the same name in other families, and unrelated tables, are not watched', () => {
    const [t] = parse('delete table ip pgw\nadd table inet pgw_other\ndelete chain ip6 pgw_guard forward\n# new generation 3 by process 9 (nft)');
    assert.equal(t!.changes.size, 0);
  });

  it('recognises the readiness marker and keeps transactions apart', () => {
    const ts = parse(`add table inet pgw_agent_probe\ndelete table inet pgw_agent_probe\n# new generation 5 by process 42 (nft)\n${FLUSH_RULESET}`);
    assert.deepEqual(ts.map((t) => [t.generation, t.probe, t.changes.size]), [[5, true, 0], [13, false, 2]]);
  });

  it('a generation line without process information gives an unknown pid', () => {
    const [t] = parse('delete table inet pgw\n# new generation 2');
    assert.equal(t!.pid, null);
    assert.equal(t!.changes.get('pgw'), 'removed');
  });
});

describe('planHeal', () => {
  const only = (text: string) => parse(text)[0]!;

  it('does nothing for the agent’s own transactions', () => {
    assert.deepEqual(planHeal(only(FLUSH_RULESET), 'own'), { guard: 'none', pgw: 'none' });
  });

  it('restores both tables after a foreign flush, whoever wrote it', () => {
    assert.deepEqual(planHeal(only(FLUSH_RULESET), 'foreign'), { guard: 'restore', pgw: 'restore' });
    assert.deepEqual(planHeal(only(FLUSH_RULESET), 'unknown'), { guard: 'restore', pgw: 'restore' });
  });

  it('leaves a whole guard load alone and verifies a whole inet pgw replacement', () => {
    assert.deepEqual(planHeal(only(GUARD_LOAD), 'foreign'), { guard: 'none', pgw: 'none' });
    assert.deepEqual(planHeal(only(PGW_APPLY), 'foreign'), { guard: 'none', pgw: 'verify' });
  });

  it('restores a foreign edit; verifies an edit by an unknown writer (it may be the agent’s own delta)', () => {
    const edit = only('delete element inet pgw client_port { 192.168.2.10 : 20010 }\n# new generation 8 by process 5 (nft)');
    assert.equal(planHeal(edit, 'foreign').pgw, 'restore');
    assert.equal(planHeal(edit, 'unknown').pgw, 'verify');
    const guardEdit = only('delete rule inet pgw_guard forward handle 4\n# new generation 9 by process 5 (nft)');
    assert.equal(planHeal(guardEdit, 'unknown').guard, 'restore');
  });

  it('merges queued plans to the stronger action per table', () => {
    assert.deepEqual(mergePlans({ guard: 'restore', pgw: 'verify' }, { guard: 'none', pgw: 'restore' }), { guard: 'restore', pgw: 'restore' });
    assert.deepEqual(mergePlans({ guard: 'none', pgw: 'none' }, { guard: 'none', pgw: 'verify' }), { guard: 'none', pgw: 'verify' });
  });
});

describe('OwnWriters', () => {
  it('claims a pid once, and forgets pids whose transaction never came', () => {
    let now = 0;
    const own = new OwnWriters(() => now, 1000);
    own.add(100);
    own.add(200);
    assert.equal(own.claim(100), true);
    assert.equal(own.claim(100), false, 'a reused pid is foreign');
    now = 2000;
    assert.equal(own.claim(200), false, 'expired');
    assert.equal(own.claim(300), false);
  });

  it('claims each transaction of a pid that wrote several before the first was seen (the deltas’ nft -i)', () => {
    const own = new OwnWriters(() => 0, 1000);
    own.add(100);
    own.add(100);
    assert.equal(own.claim(100), true);
    assert.equal(own.claim(100), true, 'the second transaction is ours too');
    assert.equal(own.claim(100), false, 'no third one was written');
  });
});
