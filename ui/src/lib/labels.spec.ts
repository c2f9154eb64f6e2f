import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Mapping } from '../api/types.js';
import { clientStateLabel, filterMappings, matchesIp, proxyStatusLabel, sortMappings } from './labels.js';

function mapping(over: Partial<Mapping>): Mapping {
  return {
    id: 1,
    clientIp: '192.168.2.10',
    proxyId: 1,
    proxyName: 'dante-a',
    proxyStatus: 'up',
    listenPort: 20000,
    enabled: true,
    description: '',
    macAddress: null,
    privateDestinations: null,
    failPolicy: 'closed',
    backupProxyIds: [],
    rateDownKbit: null,
    rateUpKbit: null,
    quotaBytes: null,
    quota: { epoch: 0, usedBytes: null, exceeded: false },
    effective: { state: 'effective', reason: null },
    udpDropped: null,
    createdAt: '',
    updatedAt: '',
    ...over,
  };
}

test('every client state carries its reason in words', () => {
  assert.deepEqual(clientStateLabel({ state: 'blocked', reason: 'proxy_down' }), { tone: 'bad', text: 'blocked: proxy down' });
  assert.deepEqual(clientStateLabel({ state: 'not_applied', reason: 'pending' }), { tone: 'warn', text: 'not applied: changed, not applied yet' });
  assert.equal(clientStateLabel({ state: 'blocked', reason: 'some_new_reason' }).text, 'blocked: some new reason');
  assert.deepEqual(clientStateLabel({ state: 'effective', reason: null }), { tone: 'ok', text: 'effective' });
  assert.equal(proxyStatusLabel('unknown').tone, 'warn');
});

test('filters by text, proxy status and client state together', () => {
  const rows = [
    mapping({ id: 1 }),
    mapping({ id: 2, clientIp: '192.168.2.11', proxyName: 'Tiny-B', proxyStatus: 'down', effective: { state: 'blocked', reason: 'proxy_down' } }),
    mapping({ id: 3, clientIp: '192.168.2.12', enabled: false, description: 'Phone lab', effective: { state: 'blocked', reason: 'mapping_disabled' } }),
  ];
  const ids = (f: Parameters<typeof filterMappings>[1]) => filterMappings(rows, f).map((m) => m.id);
  assert.deepEqual(ids({ text: '', client: 'all', proxy: 'all' }), [1, 2, 3]);
  assert.deepEqual(ids({ text: 'tiny', client: 'all', proxy: 'all' }), [2]);
  assert.deepEqual(ids({ text: 'phone', client: 'all', proxy: 'all' }), [3]);
  assert.deepEqual(ids({ text: '', client: 'blocked', proxy: 'all' }), [2, 3]);
  assert.deepEqual(ids({ text: '', client: 'disabled', proxy: 'all' }), [3]);
  assert.deepEqual(ids({ text: '', client: 'all', proxy: 'down' }), [2]);
  assert.deepEqual(ids({ text: '20000', client: 'effective', proxy: 'up' }), [1]);
});

test('an IP search matches whole octets unless a trailing * asks for a prefix', () => {
  assert.equal(matchesIp('.10', '192.168.2.10'), true);
  assert.equal(matchesIp('.10', '192.168.2.100'), false);
  assert.equal(matchesIp('.10*', '192.168.2.100'), true);
  assert.equal(matchesIp('192.168.2.1', '192.168.2.10'), false);
  assert.equal(matchesIp('192.168.2.1', '192.168.2.1'), true);
  assert.equal(matchesIp('168.2', '192.168.2.77'), true);
  assert.equal(matchesIp('192.168.2.', '192.168.2.77'), true);
  assert.equal(matchesIp('10', '192.168.2.100'), false);
  assert.equal(matchesIp('desk', '192.168.2.10'), false);
});

test('sorting by client IP is numeric and stable, either way', () => {
  const rows = ['192.168.2.100', '192.168.2.9', '192.168.2.10'].map((clientIp, id) => mapping({ id, clientIp }));
  assert.deepEqual(sortMappings(rows, 'clientIp', 'asc').map((m) => m.clientIp), ['192.168.2.9', '192.168.2.10', '192.168.2.100']);
  assert.deepEqual(sortMappings(rows, 'clientIp', 'desc').map((m) => m.clientIp), ['192.168.2.100', '192.168.2.10', '192.168.2.9']);
  assert.deepEqual(sortMappings(rows, 'proxyName', 'asc').map((m) => m.id), [0, 1, 2], 'equal keys keep their order');
});
