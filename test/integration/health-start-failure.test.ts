// A health service whose start fails after its probe worker started (the first reconcile's read of
// the proxies refused) must leave nothing running: a worker left behind would go on taking the
// shared probe queue's jobs under the settings of that moment, and every retry of the take-over
// (HA standby, systemd restart in-process) would add another. Real Postgres (role pgw_health with
// SELECT on proxies revoked for the test), a private Redis whose clients are counted.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { startHealthStack, startHealthStores, type HealthStores } from './health-stack.js';

describe('health: a failed start leaves no probe worker', { timeout: 60_000 }, () => {
  let stores: HealthStores;
  let admin: Redis;
  const healthClients = async () => ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter((line) => / user=pgw-health /.test(line)).length;

  before(async () => {
    stores = await startHealthStores('health-start-failure');
    admin = new Redis(stores.redis.adminUrl);
  });
  after(async () => {
    admin?.disconnect();
    await stores?.stop();
  });

  it('closes its worker and Redis connections when the first reconcile fails', async () => {
    await sql`revoke select on proxies from pgw_health`.execute(stores.database.db);
    const before = await healthClients();
    for (let attempt = 0; attempt < 3; attempt++) {
      await assert.rejects(startHealthStack(stores.database, stores.redis, { name: 'health-start-failure', secretKey: randomBytes(32), proxyAllowNetworks: [], liveness: false }), /permission denied/);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    const left = (await healthClients()) - before;
    console.log(`# Redis connections of pgw-health left by 3 failed starts: ${left}`);
    assert.equal(left, 0);
  });
});
