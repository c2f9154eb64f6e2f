// The health leader's Postgres session holds the prober lock: Postgres frees it only when it
// notices the session is gone. A leader that loses power or its network sends no FIN, and with the
// kernel's defaults the server noticed after more than two hours (keepalive idle 7200 s): no node
// probed meanwhile and dead proxies stayed up. The session asks the server to watch it closely
// (keepalive after 5 s idle, 3 probes 2 s apart, unacknowledged data for at most 10 s). Checked on a
// real Postgres over TCP (on its Unix socket these settings are ignored: a dead peer closes at once).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createLogger } from '@pgw/log';
import { leaderSessionConfig, ProberLeadership } from '../../services/health/src/leadership.js';

describe("health: the leader's session is watched by the server", () => {
  it('runs with short server-side keepalives over TCP', async () => {
    const client = new pg.Client(leaderSessionConfig('postgres://postgres@127.0.0.1:5432/postgres'));
    await client.connect();
    try {
      const show = async (name: string) => (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name];
      const settings = { idle: await show('tcp_keepalives_idle'), interval: await show('tcp_keepalives_interval'), count: await show('tcp_keepalives_count'), userTimeout: await show('tcp_user_timeout') };
      console.log(`# server side of the leader's session: ${JSON.stringify(settings)}`);
      assert.deepEqual(settings, { idle: '5', interval: '2', count: '3', userTimeout: '10000' });
    } finally {
      await client.end();
    }
  });
});

describe('health: a leader whose session fails leads again as soon as Postgres answers', { timeout: 30_000 }, () => {
  it('takes the lock back within seconds, not half a probe period later', async () => {
    // One Postgres hiccup (a restart, a query out of time) ended the session: the leader stood down
    // (right: the lock went with the session) and tried again only half a period later (15 s by
    // default, 30 min at the longest period), with nobody probing or watching liveness meanwhile.
    const led: number[] = [];
    const stoodDown: number[] = [];
    const leadership = new ProberLeadership({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
      periodMs: async () => 60_000,
      lead: async () => void led.push(Date.now()),
      standDown: async () => void stoodDown.push(Date.now()),
      logger: createLogger('health-leader-test', 'error'),
    });
    const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    leadership.start();
    try {
      const until = async (what: string, done: () => boolean, ms: number) => {
        for (const end = Date.now() + ms; !done(); ) {
          if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      await until('leading', () => led.length === 1, 5_000);
      const killed = Date.now();
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgw-health-leader'`);
      await until('standing down', () => stoodDown.length === 1, 5_000);
      await until('leading again', () => led.length === 2, 8_000);
      console.log(`# the leader's session killed: led again ${led[1]! - killed} ms later`);
    } finally {
      await leadership.stop();
      await admin.end();
    }
  });
});
