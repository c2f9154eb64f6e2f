import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_NEIGHBOURS, type NeighbourRecordInput, parseNeighbourRecord } from './neighbour-record.js';

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
