import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditLogRow } from '@pgw/db';
import { parseCsv } from '@pgw/domain/csv';
import { DomainError } from '../logic/domain-errors.js';
import { WorkGate } from '../logic/work-gate.js';
import { AUDIT_CSV_COLUMNS, AuditService, auditFilter } from './audit.service.js';
import type { AuditFilter, AuditReader } from './ports.js';

const row = (id: number, fields: Partial<AuditLogRow> = {}): AuditLogRow => ({
  id: String(id),
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, id)),
  actorUserId: 1,
  actorUsername: 'admin',
  sourceIp: '192.0.2.1',
  userAgent: 'Mozilla/5.0',
  action: 'update',
  entityType: 'mapping',
  entityId: String(id),
  before: null,
  after: { clientIp: `192.168.2.${id}` },
  requestId: `req-${id}`,
  ...fields,
});

/** Newest first and `before` as the repository does; the other filters are Postgres's (tested in api-contract). */
function reader(rows: AuditLogRow[]): AuditReader & { calls: { filter: AuditFilter; limit: number }[] } {
  const calls: { filter: AuditFilter; limit: number }[] = [];
  return {
    calls,
    search: async (filter, limit) => {
      calls.push({ filter, limit });
      const older = rows.filter((r) => filter.before === undefined || Number(r.id) < Number(filter.before));
      return older.sort((a, b) => Number(b.id) - Number(a.id)).slice(0, limit);
    },
  };
}

test('pages by id cursor: one row more than the page tells whether there is a next one', async () => {
  const source = reader(Array.from({ length: 5 }, (_, i) => row(i + 1)));
  const audit = new AuditService(source, new WorkGate(2, 4));
  const first = await audit.search({ limit: '2' }, 'admin');
  assert.deepEqual([first.items.map((r) => r.id), first.nextCursor], [['5', '4'], '4']);
  const second = await audit.search({ limit: '2', before: first.nextCursor! }, 'admin');
  assert.deepEqual([second.items.map((r) => r.id), second.nextCursor], [['3', '2'], '2']);
  const last = await audit.search({ limit: '2', before: second.nextCursor! }, 'admin');
  assert.deepEqual([last.items.map((r) => r.id), last.nextCursor], [['1'], null]);
  assert.equal(source.calls[0]!.limit, 3);
});

test('the filter takes every parameter; empty ones are no filter', () => {
  const filter = auditFilter({ actor: 'alice', action: '', q: '192.168.2.10', sourceIp: '10.0.0.1', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' }, 'admin');
  assert.equal(filter.actor, 'alice');
  assert.equal(filter.action, undefined);
  assert.equal(filter.text, '192.168.2.10');
  assert.equal(filter.sourceIp, '10.0.0.1');
  assert.equal(filter.from?.toISOString(), '2026-01-01T00:00:00.000Z');
});

test("a viewer's filter leaves out users and sessions, whatever it asked for; an admin's nothing", () => {
  assert.deepEqual(auditFilter({ entityType: 'user' }, 'viewer').hiddenEntityTypes, ['user', 'session']);
  assert.deepEqual(auditFilter({ entityType: 'user' }, 'admin').hiddenEntityTypes, []);
});

test('a time range that ends before it starts, or a limit out of range, is refused naming the field', async () => {
  assert.throws(() => auditFilter({ from: '2026-01-02T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'admin'), (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && e.field === 'to');
  const audit = new AuditService(reader([]), new WorkGate(2, 4));
  await assert.rejects(audit.search({ limit: '1001' }, 'admin'), (e: unknown) => e instanceof DomainError && e.field === 'limit');
  await assert.rejects(audit.exportCsv({ limit: '10001' }, 'admin'), (e: unknown) => e instanceof DomainError && e.field === 'limit');
});

test('the CSV export has one row per entry, JSON before/after, and no field a spreadsheet would run', async () => {
  const hostile = row(7, { actorUsername: '=cmd|calc', userAgent: '@SUM(1)', before: { description: '+1,"x"' }, after: null, entityId: '-3' });
  const { csv, nextCursor } = await new AuditService(reader([row(6), hostile]), new WorkGate(2, 4)).exportCsv({}, 'admin');
  const [header, ...rows] = parseCsv(csv).map((r) => r.fields);
  assert.deepEqual(header, [...AUDIT_CSV_COLUMNS]);
  assert.equal(nextCursor, null);
  // The file holds each such field quote-prefixed; the reader (@pgw/domain/csv) gives the values back.
  assert.match(csv, /,'=cmd\|calc,192\.0\.2\.1,'@SUM\(1\),update,mapping,'-3,/);
  assert.deepEqual(rows[0], ['7', '2026-01-01T00:00:07.000Z', '=cmd|calc', '192.0.2.1', '@SUM(1)', 'update', 'mapping', '-3', '{"description":"+1,\\"x\\""}', '', 'req-7']);
  assert.equal(rows[1]![9], '{"clientIp":"192.168.2.6"}');
});

test('an export is bounded and says where the next one starts', async () => {
  const { csv, nextCursor } = await new AuditService(reader(Array.from({ length: 4 }, (_, i) => row(i + 1))), new WorkGate(2, 4)).exportCsv({ limit: '3' }, 'admin');
  assert.equal(parseCsv(csv).length, 4);
  assert.equal(nextCursor, '2');
});
