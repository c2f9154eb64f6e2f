import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLIENT_USAGE_MAX_CLIENTS, type ClientUsageSampleRecord, isStaleUsageSample, nodeNameSetting, parseClientUsageHash, parseClientUsageSample } from './client-usage.js';

const sample: ClientUsageSampleRecord = {
  node: 'gw-a',
  sampledAt: '2026-12-01T10:00:10.000Z',
  countersSince: '2026-12-01T09:00:00.000Z',
  sampleMs: 4.2,
  clients: {
    '192.168.2.10': { mappingId: 1, bytesUp: 1200, bytesDown: 98_000, connections: 3, quota: null, overQuota: false },
    '192.168.2.11': {
      mappingId: 2, bytesUp: 5_000_000, bytesDown: 6_000_000, connections: 9, overQuota: true,
      quota: { limitBytes: 10_000_000, usedBytes: 10_000_000, epoch: 1, period: 'monthly', periodStart: '2026-11-30T23:00:00.000Z', resetsAt: '2026-12-31T23:00:00.000Z' },
    },
  },
};

test('the sample the agent writes is what the api reads, times as Date', () => {
  const parsed = parseClientUsageSample(JSON.stringify(sample));
  assert.equal(parsed?.sampledAt.getTime(), Date.parse(sample.sampledAt));
  assert.equal(parsed?.clients['192.168.2.11']?.quota?.resetsAt.toISOString(), '2026-12-31T23:00:00.000Z');
  assert.equal(parsed?.clients['192.168.2.10']?.bytesDown, 98_000);
});

test('a sample the contract does not describe reads as unknown, never as zero usage', () => {
  assert.equal(parseClientUsageSample('{not json'), null);
  assert.equal(parseClientUsageSample(JSON.stringify({ ...sample, node: 'bad node' })), null);
  assert.equal(parseClientUsageSample(JSON.stringify({ ...sample, clients: { 'not-an-ip': sample.clients['192.168.2.10'] } })), null);
  assert.equal(parseClientUsageSample(JSON.stringify({ ...sample, clients: { '192.168.2.10': { ...sample.clients['192.168.2.10'], bytesUp: -1 } } })), null);
  assert.equal(parseClientUsageSample(JSON.stringify({ ...sample, clients: { '192.168.2.10': { ...sample.clients['192.168.2.10'], bytesUp: 1.5 } } })), null);
});

test('a sample over the client bound does not parse; one at it does', () => {
  const client = sample.clients['192.168.2.10']!;
  const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, client]));
  assert.ok(parseClientUsageSample(JSON.stringify({ ...sample, clients: many(CLIENT_USAGE_MAX_CLIENTS) })));
  assert.equal(parseClientUsageSample(JSON.stringify({ ...sample, clients: many(CLIENT_USAGE_MAX_CLIENTS + 1) })), null);
});

test('the hash keeps only samples filed under their own node; staleness is by sampledAt', () => {
  const samples = parseClientUsageHash({ 'gw-a': JSON.stringify(sample), 'gw-b': JSON.stringify(sample), 'gw-c': 'garbage' });
  assert.deepEqual(samples.map((s) => s.node), ['gw-a']);
  assert.equal(isStaleUsageSample(samples[0]!, new Date('2026-12-01T10:01:00.000Z')), false);
  assert.equal(isStaleUsageSample(samples[0]!, new Date('2026-12-01T10:01:10.001Z')), true);
  // Dated ahead of the reader's clock (a node whose clock is wrong): taken, it would move the node's
  // cursor into the future and every true sample after the clock is put right would be skipped.
  assert.equal(isStaleUsageSample(samples[0]!, new Date('2026-12-01T09:59:10.000Z')), false, 'within the margin');
  assert.equal(isStaleUsageSample(samples[0]!, new Date('2026-12-01T09:59:09.999Z')), true, 'beyond it');
  assert.equal(isStaleUsageSample({ sampledAt: new Date('2027-12-01T10:00:00.000Z') }, new Date('2026-12-01T10:00:00.000Z')), true, 'a year ahead');
});

test('PGW_NODE_NAME unset: the host name is the node name only if it is one', () => {
  assert.equal(nodeNameSetting('gw-a').parse(undefined), 'gw-a');
  assert.equal(nodeNameSetting('gw-a').parse('gw-b'), 'gw-b');
  // A default skipped its schema: a 64-character or `_`-led host name became the name of every record.
  for (const hostName of ['x'.repeat(64), '_gateway', 'gw a']) assert.equal(nodeNameSetting(hostName).safeParse(undefined).success, false, hostName);
});
