import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseNeighbourRecord } from '@pgw/events';
import { DeviceService } from './device.service.js';

const record = parseNeighbourRecord(
  JSON.stringify({
    at: '2026-01-01T00:00:10.000Z',
    interface: 'ens19',
    omitted: 0,
    neighbours: [
      { ip: '192.168.2.100', mac: '02:00:00:00:01:00', state: 'STALE', firstSeen: '2026-01-01T00:00:01.000Z', lastSeen: '2026-01-01T00:00:05.000Z' },
      { ip: '192.168.2.20', mac: '02:00:00:00:00:20', state: 'REACHABLE', firstSeen: '2026-01-01T00:00:02.000Z', lastSeen: '2026-01-01T00:00:09.000Z' },
      { ip: '192.168.2.3', mac: '02:00:00:00:00:03', state: 'DELAY', firstSeen: '2026-01-01T00:00:03.000Z', lastSeen: '2026-01-01T00:00:08.000Z' },
    ],
  }),
);
const service = (neighbours = record) => new DeviceService({ neighbours: async () => neighbours, mappedIps: async () => new Map([['192.168.2.20', 7]]) });

test('lists the devices in address order, each with the mapping of its IP', async () => {
  const list = await service().list({ unmapped: false });
  assert.deepEqual(list.items.map((d) => [d.ip, d.mappingId]), [['192.168.2.3', null], ['192.168.2.20', 7], ['192.168.2.100', null]]);
  assert.deepEqual([list.reportedAt, list.interface, list.items[1]?.lastSeen], ['2026-01-01T00:00:10.000Z', 'ens19', '2026-01-01T00:00:09.000Z']);
});

test('unmapped leaves out the devices a mapping covers', async () => {
  assert.deepEqual((await service().list({ unmapped: true })).items.map((d) => d.ip), ['192.168.2.3', '192.168.2.100']);
});

test('no report from the agent is unknown (reportedAt null), not "no devices"', async () => {
  assert.deepEqual(await service(null).list({ unmapped: false }), { reportedAt: null, interface: null, omitted: 0, items: [] });
});
