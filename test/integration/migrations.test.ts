import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, migrateToLatest } from '@pgw/db';
import { execa } from 'execa';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const CLI = ['--conditions=pgw-source', '--import', 'tsx', 'packages/cli/src/main.ts'];

describe('pgw migrate against a real Postgres', () => {
  let database: TestDatabase;
  const cli = (args: string[]) => execa('node', [...CLI, ...args], { env: { PGW_DATABASE_URL: database.adminUrl }, reject: false });
  const schemaFingerprint = async () =>
    (
      await sql<{ c: string }>`SELECT table_name || '.' || column_name || ':' || data_type AS c FROM information_schema.columns
                               WHERE table_schema = 'public' ORDER BY 1`.execute(database.db)
    ).rows.map((r) => r.c);

  before(async () => {
    database = await createTestDatabase({ migrate: false });
  });
  after(async () => database?.drop());

  it('reports every migration pending on an empty database', async () => {
    const status = await cli(['migrate', '--status']);
    assert.equal(status.exitCode, 3, status.stderr);
    assert.match(status.stdout, /pending\s+0001_initial_schema/);
  });

  it('migrates an empty database, then a second run changes nothing', async () => {
    const first = await cli(['migrate']);
    assert.equal(first.exitCode, 0, first.stderr);
    assert.match(first.stdout, /applied: 0001_initial_schema\napplied: 0002_service_roles/);
    const schema = await schemaFingerprint();
    assert.ok(schema.includes('mappings.client_ip:inet'));
    assert.ok(schema.includes('proxy_checks.exit_ip:inet'));

    const second = await cli(['migrate']);
    assert.equal(second.exitCode, 0, second.stderr);
    assert.equal(second.stdout.trim(), 'database is up to date');
    assert.deepEqual(await schemaFingerprint(), schema);
    const status = await cli(['migrate', '--status']);
    assert.equal(status.exitCode, 0);
    assert.doesNotMatch(status.stdout, /pending/);
  });

  it('refuses to run without PGW_DATABASE_URL, in one line', async () => {
    const result = await execa('node', [...CLI, 'migrate'], { env: { PGW_DATABASE_URL: '' }, reject: false });
    assert.equal(result.exitCode, 1);
    assert.equal(result.stderr.trim(), 'pgw: PGW_DATABASE_URL: required but not set');
  });

  it('takes an empty PGW_MIGRATIONS_DIR (as .env.template leaves it) as unset: the folder of the install', async () => {
    const status = await execa('node', [...CLI, 'migrate', '--status'], { env: { PGW_DATABASE_URL: database.adminUrl, PGW_MIGRATIONS_DIR: '' }, reject: false });
    assert.equal(status.exitCode, 0, status.stderr);
    assert.match(status.stdout, /^applied \S+  0001_initial_schema$/m);
  });

  it('rejects an unknown command with usage and exit 2', async () => {
    const result = await cli(['migrate', '--sideways']);
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /unknown command "migrate --sideways"/);
    // A password typed in the wrong place is not printed back (a terminal, a CI log, the journal).
    const typed = await cli(['db', 'roles', '--password=Hunter2Hunter2', 'Hunter3Hunter3']);
    assert.equal(typed.exitCode, 2);
    assert.match(typed.stderr, /unknown command "db roles --password …"/);
    assert.doesNotMatch(typed.stderr, /Hunter/);
    // Bad arguments of a known command are usage errors too (exit 1 before, as a failed run).
    const badRole = await cli(['user', 'create', '--role', 'root', '--username', 'x']);
    assert.deepEqual([badRole.exitCode, /--role must be admin or viewer\nusage: pgw/.test(badRole.stderr)], [2, true], badRole.stderr);
  });

  it('gives each service role least privilege', async () => {
    await sql`INSERT INTO proxies (name, protocol, host, port, password_enc) VALUES ('p', 'socks5', '198.51.100.10', 1080, 'sealed')`.execute(database.db);
    const as = (role: 'pgw_agent' | 'pgw_forwarder' | 'pgw_health' | 'pgw_api') => createDb(database.urlFor(role), { applicationName: 'privilege-test', maxConnections: 1 });
    const denied = /permission denied/;
    const agent = as('pgw_agent');
    const forwarder = as('pgw_forwarder');
    const health = as('pgw_health');
    const api = as('pgw_api');
    try {
      assert.equal((await sql`SELECT id, host, status FROM proxies`.execute(agent)).rows.length, 1);
      await assert.rejects(sql`SELECT password_enc FROM proxies`.execute(agent), denied, 'the agent never reads credentials');
      await assert.rejects(sql`DELETE FROM mappings`.execute(agent), denied);
      assert.equal((await sql<{ passwordEnc: string }>`SELECT password_enc FROM proxies`.execute(forwarder)).rows[0]?.passwordEnc, 'sealed');
      await assert.rejects(sql`UPDATE proxies SET status = 'up'`.execute(forwarder), denied, 'the forwarder is read-only');
      await sql`UPDATE proxies SET status = 'up', latency_ms = 5`.execute(health);
      await assert.rejects(sql`UPDATE proxies SET host = 'evil.example'`.execute(health), denied, 'health writes only status columns');
      await assert.rejects(sql`SELECT * FROM users`.execute(health), denied);
      // The api seals passwords to a public key and never reads one back (0027): a second layer to its not holding PGW_SECRET_KEY.
      await assert.rejects(sql`SELECT password_enc FROM proxies`.execute(api), denied, 'the api never reads a sealed password');
      await assert.rejects(sql`SELECT * FROM proxies`.execute(api), denied);
      assert.deepEqual((await sql`SELECT name, has_password FROM proxies`.execute(api)).rows, [{ name: 'p', hasPassword: true }]);
      await sql`INSERT INTO audit_log (action, entity_type) VALUES ('create', 'proxy')`.execute(api);
      await assert.rejects(sql`UPDATE audit_log SET action = 'forged'`.execute(api), denied, 'the audit log is append-only');
      await assert.rejects(sql`DELETE FROM audit_log`.execute(api), denied);
    } finally {
      await Promise.all([agent.destroy(), forwarder.destroy(), health.destroy(), api.destroy()]);
    }
  });

  it('pgw_api cannot write what the probes found, but creates and edits proxies (an endpoint change resets the status)', async () => {
    const api = createDb(database.urlFor('pgw_api'), { applicationName: 'privilege-test', maxConnections: 1 });
    const health = createDb(database.urlFor('pgw_health'), { applicationName: 'privilege-test', maxConnections: 1 });
    const denied = /permission denied/;
    try {
      const { id } = (await sql<{ id: number }>`INSERT INTO proxies (name, protocol, host, port, username, password_enc)
                                                 VALUES ('api-made', 'socks5', '198.51.100.20', 1080, 'u', 'sealed') RETURNING id`.execute(api)).rows[0]!;
      for (const [column, value] of [['status', sql`'up'`], ['latency_ms', sql`1`], ['exit_ip', sql`'198.51.100.66'`], ['last_error', sql`NULL`], ['consecutive_successes', sql`9`], ['handshake_learned', sql`'pipelined'`]] as const) {
        await assert.rejects(sql`UPDATE proxies SET ${sql.ref(column)} = ${value} WHERE id = ${id}`.execute(api), denied, `pgw_api may not write ${column}`);
      }
      await assert.rejects(
        sql`INSERT INTO proxies (name, protocol, host, port, status, exit_ip) VALUES ('born-up', 'http', '198.51.100.21', 3128, 'up', '198.51.100.66')`.execute(api),
        denied,
        'pgw_api may not create a proxy that is already up',
      );
      const probed = await sql`UPDATE proxies SET status = 'up', status_changed_at = now(), latency_ms = 12, exit_ip = '198.51.100.30', consecutive_successes = 3 WHERE id = ${id}`.execute(health);
      assert.equal(probed.numAffectedRows, 1n);
      const row = async () =>
        (await sql<{ name: string; status: string; latencyMs: number | null; consecutiveSuccesses: number }>`SELECT name, status, latency_ms, consecutive_successes FROM proxies WHERE id = ${id}`.execute(api)).rows[0]!;
      await sql`UPDATE proxies SET name = 'renamed', updated_at = now() WHERE id = ${id}`.execute(api);
      assert.deepEqual(await row(), { name: 'renamed', status: 'up', latencyMs: 12, consecutiveSuccesses: 3 }, 'a rename keeps the status');
      // The api moves a proxy only with a password given again or removed (0028): with the stored one
      // kept, the probe would hand it to the new endpoint, which code running as the api chose.
      await assert.rejects(sql`UPDATE proxies SET host = '198.51.100.22', updated_at = now() WHERE id = ${id}`.execute(api), /a proxy with a stored password moves only with its password given again or removed/);
      await assert.rejects(sql`UPDATE proxies SET port = 1081, password_enc = password_enc WHERE id = ${id}`.execute(api), /permission denied|moves only with its password/);
      await assert.rejects(sql`UPDATE proxies SET protocol = 'http' WHERE id = ${id}`.execute(api), /moves only with its password/);
      await sql`UPDATE proxies SET host = '198.51.100.22', password_enc = 'sealed again', updated_at = now() WHERE id = ${id}`.execute(api);
      assert.deepEqual(await row(), { name: 'renamed', status: 'unknown', latencyMs: 12, consecutiveSuccesses: 0 }, 'a new endpoint is unknown until probed');
      await sql`UPDATE proxies SET port = 1082, password_enc = NULL, username = NULL WHERE id = ${id}`.execute(api);
    } finally {
      await Promise.all([api.destroy(), health.destroy()]);
    }
  });
});

describe('pgw migrate over usernames that differ only in case (0024)', () => {
  let database: TestDatabase;
  let earlier: string;

  before(async () => {
    database = await createTestDatabase({ migrate: false });
    // The schema as it was before 0024, which let `admin` and `Admin` both exist.
    earlier = await mkdtemp(join(tmpdir(), 'pgw-migrations-'));
    for (const file of (await readdir('migrations')).filter((f) => f < '0024')) await copyFile(join('migrations', file), join(earlier, file));
    const { error } = await migrateToLatest(database.db, earlier);
    if (error) throw error;
  });
  after(async () => {
    await database?.drop();
    if (earlier) await rm(earlier, { recursive: true, force: true });
  });

  it('stops naming the pair, changes nothing, and goes on once one of them is gone', async () => {
    const cli = (args: string[]) => execa('node', [...CLI, ...args], { env: { PGW_DATABASE_URL: database.adminUrl }, reject: false });
    await sql`INSERT INTO users (username, password_hash, role) VALUES ('admin', 'x', 'admin'), ('Admin', 'y', 'viewer'), ('bob', 'z', 'viewer')`.execute(database.db);
    const refused = await cli(['migrate']);
    assert.notEqual(refused.exitCode, 0);
    assert.match(refused.stderr, /usernames that differ only in case: Admin, admin;/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.match((await cli(['migrate', '--status'])).stdout, /pending\s+0024_username_unique_whatever_case/);
    await sql`DELETE FROM users WHERE username = 'Admin'`.execute(database.db);
    const applied = await cli(['migrate']);
    assert.equal(applied.exitCode, 0, applied.stderr);
    await assert.rejects(sql`INSERT INTO users (username, password_hash, role) VALUES ('BOB', 'x', 'viewer')`.execute(database.db), /users_username_lower/);
  });
});
