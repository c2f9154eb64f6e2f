import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentNeighboursKey, MAX_NEIGHBOURS, mergeNeighbourRecords, type NeighbourRecordInput, parseNeighbourRecord } from './neighbour-record.js';

const record: NeighbourRecordInput = {
  at: '2026-01-01T00:00:10.000Z',
  interface: 'ens19',
  neighbours: [{ ip: '192.168.2.77', mac: '02:00:00:00:00:77', state: 'REACHABLE', firstSeen: '2026-01-01T00:00:02.000Z', lastSeen: '2026-01-01T00:00:09.000Z' }],
  omitted: 0,
};

test('the table the agent writes is what the api reads, times as Date', () => {
  const parsed = parseNeighbourRecord(JSON.stringify(record));
  assert.equal(parsed?.neighbours[0]?.lastSeen.getTime(), Date.parse('2026-01-01T00:00:09.000Z'));
  assert.equal(parsed?.interface, 'ens19');
});

test('a record the contract does not describe reads as unknown', () => {
  const one = record.neighbours[0]!;
  assert.equal(parseNeighbourRecord('{'), null);
  assert.equal(parseNeighbourRecord(null), null);
  assert.equal(parseNeighbourRecord(JSON.stringify({ ...record, neighbours: [{ ...one, ip: 'fe80::1' }] })), null, 'IPv4 only');
  assert.equal(parseNeighbourRecord(JSON.stringify({ ...record, neighbours: [{ ...one, mac: '02-00-00-00-00-77' }] })), null, 'one spelling');
  assert.equal(parseNeighbourRecord(JSON.stringify({ ...record, neighbours: [{ ...one, state: 'FAILED' }] })), null);
  assert.equal(parseNeighbourRecord(JSON.stringify({ ...record, omitted: -1 })), null);
});

test('the record is bounded: more than MAX_NEIGHBOURS entries is not a record', () => {
  const many = Array.from({ length: MAX_NEIGHBOURS + 1 }, () => record.neighbours[0]!);
  assert.equal(parseNeighbourRecord(JSON.stringify({ ...record, neighbours: many })), null);
  assert.equal(parseNeighbourRecord(JSON.stringify({ ...record, neighbours: many.slice(1) }))?.neighbours.length, MAX_NEIGHBOURS);
});

test("one key per node (issue 18); the api merges the nodes' tables: each IP once, as last heard", () => {
  assert.equal(agentNeighboursKey('pgw-a'), 'pgw:agent:neighbours:pgw-a');
  const one = record.neighbours[0]!;
  const a = parseNeighbourRecord(JSON.stringify({ ...record, neighbours: [one, { ...one, ip: '192.168.2.78', mac: '02:00:00:00:00:78' }] }))!;
  const b = parseNeighbourRecord(
    JSON.stringify({ ...record, at: '2026-01-01T00:00:11.000Z', interface: 'lan1', omitted: 2, neighbours: [{ ...one, mac: '02:00:00:00:00:99', state: 'STALE', firstSeen: '2026-01-01T00:00:05.000Z', lastSeen: '2026-01-01T00:00:10.000Z' }] }),
  )!;
  const merged = mergeNeighbourRecords([a, b])!;
  assert.deepEqual(
    merged.neighbours.map((n) => [n.ip, n.mac, n.state, n.firstSeen.toISOString()]),
    [['192.168.2.77', '02:00:00:00:00:99', 'STALE', '2026-01-01T00:00:02.000Z'], ['192.168.2.78', '02:00:00:00:00:78', 'REACHABLE', '2026-01-01T00:00:02.000Z']],
  );
  assert.deepEqual([merged.at.toISOString(), merged.interface, merged.omitted], ['2026-01-01T00:00:11.000Z', 'lan1', 2]);
  assert.equal(mergeNeighbourRecords([]), null);
});

test('the merged table stays bounded: beyond MAX_NEIGHBOURS the least recently seen are counted as omitted', () => {
  const one = record.neighbours[0]!;
  const table = (offset: number) =>
    parseNeighbourRecord(JSON.stringify({ ...record, neighbours: Array.from({ length: 600 }, (_, i) => ({ ...one, ip: `10.0.${Math.floor((i + offset) / 250)}.${(i + offset) % 250}`, lastSeen: new Date(Date.parse(one.lastSeen) + i + offset).toISOString() })) }))!;
  const merged = mergeNeighbourRecords([table(0), table(600)])!;
  assert.equal(merged.neighbours.length, MAX_NEIGHBOURS);
  assert.equal(merged.omitted, 1200 - MAX_NEIGHBOURS);
  assert.equal(merged.neighbours.at(-1)!.ip, '10.0.0.176');
});
