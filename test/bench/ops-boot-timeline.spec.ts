import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentMilestones, firstMessageMs, forwarderMilestones, parseLog } from './ops-boot-timeline.js';

const origin = Date.parse('2025-01-01T00:00:10.000Z');
const line = (iso: string, message: string, fields: Record<string, unknown> = {}) => JSON.stringify({ ...fields, level: 'info', message, service: 'x', timestamp: iso });

describe('parseLog', () => {
  it('keeps JSON lines at or after the origin and skips older ones and non-JSON lines', () => {
    const text = [line('2025-01-01T00:00:09.999Z', 'old'), 'pgw-agent: cannot start: x', '{not json', line('2025-01-01T00:00:10.250Z', 'new'), ''].join('\n');
    assert.deepEqual(parseLog(text, origin).map((e) => e.message), ['new']);
  });
});

describe('agentMilestones', () => {
  it('separates the boot fast path, the cached re-apply and the first Postgres run', () => {
    const entries = parseLog(
      [
        line('2025-01-01T00:00:10.390Z', 'state file enforced at boot', { clients: 2, ms: 40, enforcedAt: '2025-01-01T00:00:10.150Z' }),
        line('2025-01-01T00:00:10.400Z', 'ruleset applied', { trigger: 'state_file', durationMs: 80 }),
        line('2025-01-01T00:00:10.500Z', 'started'),
        line('2025-01-01T00:00:11.100Z', 'reconcile failed, previous ruleset kept where not applied', { trigger: 'start' }),
      ].join('\n'),
      origin,
    );
    assert.deepEqual(agentMilestones(entries, origin), {
      bootEnforcedMs: 150,
      cachedApplied: { atMs: 400, runMs: 80 },
      firstPostgresRun: { atMs: 1100, outcome: 'failed' },
      listeningMs: 500,
    });
  });

  it('null milestones when the lines are missing (no state file, nothing logged yet)', () => {
    assert.deepEqual(agentMilestones([], origin), { bootEnforcedMs: null, cachedApplied: null, firstPostgresRun: null, listeningMs: null });
  });
});

describe('forwarderMilestones and firstMessageMs', () => {
  it('takes the first apply and the ready line', () => {
    const entries = parseLog(
      [
        line('2025-01-01T00:00:11.000Z', 'applied mappings', { opened: 256, closed: 0, updated: 0, failed: 0 }),
        line('2025-01-01T00:00:11.020Z', 'ready'),
        line('2025-01-01T00:00:12.000Z', 'applied mappings', { opened: 1, closed: 0, updated: 0, failed: 0 }),
      ].join('\n'),
      origin,
    );
    assert.deepEqual(forwarderMilestones(entries, origin), { listenersOpen: { atMs: 1000, opened: 256, failed: 0 }, readyMs: 1020 });
    assert.equal(firstMessageMs(entries, origin, 'ready'), 1020);
    assert.equal(firstMessageMs(entries, origin, 'listening'), null);
  });
});
