// The health leader's Postgres session holds the prober lock: Postgres frees it only when it
// notices the session is gone. A leader that loses power or its network sends no FIN, and with the
// kernel's defaults the server noticed after more than two hours (keepalive idle 7200 s): no node
// probed meanwhile and dead proxies stayed up. The session asks the server to watch it closely
// (keepalive after 5 s idle, 3 probes 2 s apart, unacknowledged data for at most 10 s). Checked on a
// real Postgres over TCP (on its Unix socket these settings are ignored: a dead peer closes at once).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { leaderSessionConfig } from '../../services/health/src/leadership.js';

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
