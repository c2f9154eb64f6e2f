// `pgw db roles` gives each service role its password as a SCRAM-SHA-256 verifier computed by the
// CLI (@pgw/crypto scramSha256Verifier), so the password itself is never in a statement the server
// may log (log_statement = ddl, or a failing statement). Real PostgreSQL: the verifier computed
// with the salt and iterations the server chose for the same password is the one the server stores,
// and a role given the verifier stores it as it is.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { scramSha256Verifier } from '@pgw/crypto';
import { createDb, type Db } from '@pgw/db';
import { sql } from 'kysely';

const ADMIN_URL = `postgres://${encodeURIComponent(process.env.PGW_TEST_PG_ADMIN_USER ?? 'root')}@/postgres?host=${encodeURIComponent(process.env.PGW_TEST_PG_SOCKET ?? '/var/run/postgresql')}`;

describe('SCRAM verifiers of the service roles against PostgreSQL', () => {
  const role = `pgw_verifier_${randomBytes(4).toString('hex')}`;
  let admin: Db;

  before(() => {
    admin = createDb(ADMIN_URL, { applicationName: 'pgw-verifier-test', maxConnections: 1 });
  });
  after(async () => {
    await sql`DROP ROLE IF EXISTS ${sql.id(role)}`.execute(admin).catch(() => undefined);
    await admin?.destroy();
  });

  const stored = async () => (await sql<{ p: string }>`SELECT rolpassword AS p FROM pg_authid WHERE rolname = ${role}`.execute(admin)).rows[0]!.p;

  it('is what PostgreSQL stores for the same password, salt and iterations; given as the password, it is stored as it is', async () => {
    const password = randomBytes(24).toString('hex');
    await sql`SET password_encryption = 'scram-sha-256'`.execute(admin);
    await sql`CREATE ROLE ${sql.id(role)} LOGIN PASSWORD ${sql.lit(password)}`.execute(admin);
    const server = await stored();
    const [, params] = /^SCRAM-SHA-256\$(\d+:[^$]+)\$/.exec(server) ?? [];
    assert.ok(params, `a SCRAM verifier: ${server.slice(0, 20)}`);
    const [iterations, salt] = params.split(':') as [string, string];
    assert.equal(scramSha256Verifier(password, Buffer.from(salt, 'base64'), Number(iterations)), server);
    const ours = scramSha256Verifier(password);
    await sql`ALTER ROLE ${sql.id(role)} PASSWORD ${sql.lit(ours)}`.execute(admin);
    assert.equal(await stored(), ours);
  });
});
