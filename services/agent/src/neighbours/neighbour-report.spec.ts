import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_NEIGHBOURS, parseNeighbourRecord } from '@pgw/events';
import { NeighbourTable, seenNeighbours } from './neighbour-report.js';
import type { NeighbourRow } from '../netlink/rtnetlink.js';

const NOW = Date.parse('2026-01-01T00:01:00.000Z');

describe('LAN neighbour report (device discovery)', () => {
  it('reads IPv4 neighbours with a MAC; FAILED and INCOMPLETE rows have none and NOARP ones are no devices: left out', () => {
    const row = (r: Partial<NeighbourRow> & Pick<NeighbourRow, 'ip' | 'states'>): NeighbourRow => ({ ifindex: 2, mac: null, confirmedMsAgo: null, updatedMsAgo: null, protocol: 0, ...r });
    const rows = [
      row({ ip: '192.168.2.77', mac: '02:00:00:00:00:77', confirmedMsAgo: 3000, updatedMsAgo: 1000, states: ['REACHABLE'] }),
      row({ ip: '192.168.2.10', mac: '52:54:00:ab:cd:0f', confirmedMsAgo: 40_000, updatedMsAgo: 30_000, states: ['STALE'] }),
      row({ ip: '192.168.2.99', confirmedMsAgo: 5000, updatedMsAgo: 5000, states: ['FAILED'] }),
      row({ ip: '192.168.2.98', states: ['INCOMPLETE'] }),
      // The broadcast address and a multicast group: NOARP entries, which `ip neigh show` hides too.
      row({ ip: '192.168.2.255', mac: 'ff:ff:ff:ff:ff:ff', states: ['NOARP'] }),
      row({ ip: '224.0.0.251', mac: '01:00:5e:00:00:fb', states: ['NOARP'] }),
    ];
    assert.deepEqual(seenNeighbours(rows, NOW), [
      { ip: '192.168.2.77', mac: '02:00:00:00:00:77', state: 'REACHABLE', lastSeenMs: NOW - 1000 },
      { ip: '192.168.2.10', mac: '52:54:00:ab:cd:0f', state: 'STALE', lastSeenMs: NOW - 30_000 },
    ]);
    assert.deepEqual(seenNeighbours([], NOW), []);
  });

  it('keeps the first sighting across reads, forgets a device that left, and writes what the api parses', () => {
    const table = new NeighbourTable();
    const dev = { ip: '192.168.2.77', mac: '02:00:00:00:00:77', state: 'REACHABLE' as const };
    table.record('ens19', [{ ...dev, lastSeenMs: NOW }], NOW);
    const later = table.record('ens19', [{ ...dev, lastSeenMs: NOW + 5000 }], NOW + 6000);
    const parsed = parseNeighbourRecord(JSON.stringify(later));
    assert.equal(parsed?.neighbours[0]?.firstSeen.getTime(), NOW);
    assert.equal(parsed?.neighbours[0]?.lastSeen.getTime(), NOW + 5000);
    table.record('ens19', [], NOW + 7000);
    const back = table.record('ens19', [{ ...dev, lastSeenMs: NOW + 8000 }], NOW + 8000);
    assert.equal(back.neighbours[0]?.firstSeen, new Date(NOW + 8000).toISOString(), 'a device that came back is new again');
  });

  it('holds at most MAX_NEIGHBOURS, the most recently seen, and counts the rest', () => {
    const seen = Array.from({ length: MAX_NEIGHBOURS + 5 }, (_, i) => ({
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      mac: `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
      state: 'STALE' as const,
      lastSeenMs: NOW - i * 1000,
    }));
    const record = new NeighbourTable().record('ens19', seen, NOW);
    assert.equal(record.neighbours.length, MAX_NEIGHBOURS);
    assert.equal(record.omitted, 5);
    assert.equal(record.neighbours.at(-1)?.ip, seen[MAX_NEIGHBOURS - 1]!.ip, 'the least recently seen are the ones left out');
    assert.notEqual(parseNeighbourRecord(JSON.stringify(record)), null);
  });
});
