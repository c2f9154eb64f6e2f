import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gatewayPolicy, policyClient } from './policy-fixtures.js';
import { StateCache } from './state-cache.js';

describe('StateCache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-state-cache-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a policy it cannot write takes the older file away: a restart never enforces a policy older than the one in force', async () => {
    const cache = new StateCache(dir);
    const older = gatewayPolicy([policyClient(10), policyClient(11)]);
    const quota = { period: 'monthly' as const, timeZone: 'UTC' };
    assert.equal(await cache.save({ policy: older, quota, quotaPeriodKey: 'm202612', quotaOver: ['q11_1'] }), true);
    assert.deepEqual((await new StateCache(dir).load())?.policy, older);
    // The write fails (here: its temporary file cannot be made; a full disk, an I/O error).
    mkdirSync(join(dir, `policy.json.${process.pid}.tmp`));
    const newer = gatewayPolicy([policyClient(10)]);
    await assert.rejects(cache.save({ policy: newer, quota: null }), /the older file was set aside: a restart enforces nothing from it/);
    assert.equal(await new StateCache(dir).load(), null, 'client .11, since unmapped, would have come back at the next start');
    // Its quota blocks still stand at boot: a client over its quota is not served from zero counts.
    assert.deepEqual(await new StateCache(dir).unwrittenQuota(), { quota, quotaPeriodKey: 'm202612', quotaOver: ['q11_1'] });
    rmSync(join(dir, `policy.json.${process.pid}.tmp`), { recursive: true });
    assert.equal(await cache.save({ policy: newer, quota: null }), true, 'written again once it can be');
    assert.deepEqual((await new StateCache(dir).load())?.policy, newer);
    assert.equal(await new StateCache(dir).unwrittenQuota(), null, 'the file set aside goes once a policy is written');
  });
});
