// Migration 0010 (issue 16) against a real Postgres: the quota period settings have their defaults,
// the CHECKs refuse an unknown period and a zone name of the wrong shape, @pgw/domain refuses a zone
// the runtime does not know, and the agent's role reads them (the shaper's period) but cannot write.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDb, type Db, loadSettings } from '@pgw/db';
import { settingsSchema } from '@pgw/domain';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('settings quota period columns (migration 0010)', () => {
  let database: TestDatabase;
  let agent: Db;
  const set = (column: string, value: string | boolean) => sql`UPDATE settings SET ${sql.ref(column)} = ${value} WHERE id = 1`.execute(database.db);

  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_quota_period' });
    agent = createDb(database.urlFor('pgw_agent'), { applicationName: 'quota-period-test', maxConnections: 1 });
  });
  after(async () => {
    await agent?.destroy();
    await database?.drop();
  });

  it('defaults: monthly in UTC, no per-client metrics; the agent loads them', async () => {
    const settings = await loadSettings(agent);
    assert.equal(settings.quotaPeriod, 'monthly');
    assert.equal(settings.quotaResetTimezone, 'UTC');
    assert.equal(settings.perClientMetrics, false);
  });

  it('refuses an unknown period and a zone name of the wrong shape; a known zone is stored', async () => {
    await assert.rejects(set('quota_period', 'weekly'), /settings_quota_period_known/);
    await assert.rejects(set('quota_reset_timezone', "UTC'; DROP TABLE settings; --"), /settings_quota_reset_timezone_shape/);
    await assert.rejects(set('quota_reset_timezone', ''), /settings_quota_reset_timezone_shape/);
    await set('quota_period', 'daily');
    await set('quota_reset_timezone', 'Europe/Berlin');
    await set('per_client_metrics', true);
    const settings = await loadSettings(agent);
    assert.deepEqual([settings.quotaPeriod, settings.quotaResetTimezone, settings.perClientMetrics], ['daily', 'Europe/Berlin', true]);
  });

  it('a well-shaped zone the runtime does not know is refused by the domain, naming the field', async () => {
    const stored = await loadSettings(database.db);
    const parsed = settingsSchema.safeParse({ ...stored, quotaResetTimezone: 'Mars/Olympus' });
    assert.equal(parsed.success, false);
    assert.deepEqual(parsed.error?.issues.map((i) => i.path.join('.')), ['quotaResetTimezone']);
  });

  it("the agent's role cannot change them", async () => {
    await assert.rejects(sql`UPDATE settings SET quota_period = 'monthly'`.execute(agent), /permission denied/);
  });
});
