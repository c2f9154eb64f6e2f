import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refusalsSince, setPacketCounts, tableHandle } from './client-refusal-reading.js';

const reading = (table: number, counts: Record<string, number>) => ({ table, counts: new Map(Object.entries(counts)) });

describe('refusalsSince', () => {
  it('counts what each client\'s counter grew by in the same table, and a new client whole', () => {
    const last = reading(7, { '192.168.2.10': 5 });
    const now = reading(7, { '192.168.2.10': 12, '192.168.2.11': 3 });
    assert.deepEqual(Object.fromEntries(refusalsSince(last, now)), { '192.168.2.10': 7, '192.168.2.11': 3 });
  });

  it('leaves out a client whose counter did not move', () => {
    assert.deepEqual(refusalsSince(reading(7, { '192.168.2.10': 5 }), reading(7, { '192.168.2.10': 5 })).size, 0);
  });

  it('counts a re-created table whole, also where a counter is higher than before', () => {
    const since = refusalsSince(reading(7, { '192.168.2.10': 5 }), reading(9, { '192.168.2.10': 8 }));
    assert.deepEqual(Object.fromEntries(since), { '192.168.2.10': 8 });
  });

  it('counts a counter that went down whole (its element gone and added again)', () => {
    assert.deepEqual(Object.fromEntries(refusalsSince(reading(7, { '192.168.2.10': 5 }), reading(7, { '192.168.2.10': 2 }))), { '192.168.2.10': 2 });
  });

  it('counts everything of the first reading', () => {
    assert.deepEqual(Object.fromEntries(refusalsSince(null, reading(1, { '192.168.2.10': 4 }))), { '192.168.2.10': 4 });
  });
});

describe('nft listings', () => {
  // nft 1.0.6's JSON, as printed for `nft -j list tables` and `nft -j list set inet pgw flow_cap_refused`.
  const tables = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "pgw_guard", "handle": 3}}, {"table": {"family": "inet", "name": "pgw", "handle": 12}}]}';
  const set =
    '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "flow_cap_refused", "table": "pgw", "type": "ipv4_addr", "handle": 2, "size": 65535, "elem": [{"elem": {"val": "192.168.2.10", "counter": {"packets": 284, "bytes": 11360}}}, {"elem": {"val": "192.168.2.12", "counter": {"packets": 1, "bytes": 60}}}], "stmt": [{"counter": null}]}}]}';

  it('finds the table\'s handle by family and name, null when absent', () => {
    assert.equal(tableHandle(tables, 'inet', 'pgw'), 12);
    assert.equal(tableHandle(tables, 'ip', 'pgw'), null);
    assert.equal(tableHandle('{"nftables": [{"metainfo": {}}]}', 'inet', 'pgw'), null);
  });

  it('reads each element\'s packet counter; an empty set is no element', () => {
    assert.deepEqual(Object.fromEntries(setPacketCounts(set)), { '192.168.2.10': 284, '192.168.2.12': 1 });
    assert.equal(setPacketCounts(set.replace(/"elem": \[.*\], "stmt"/, '"stmt"')).size, 0);
  });

  it('refuses a listing it does not understand rather than reading it as no refusals', () => {
    assert.throws(() => setPacketCounts(set.replace('"counter": {"packets": 284, "bytes": 11360}', '"counter": null')), /unexpected element/);
    assert.throws(() => setPacketCounts('{}'), /no nftables array/);
  });
});
