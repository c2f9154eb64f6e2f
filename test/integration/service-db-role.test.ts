// A service's login is judged before its first query: an owner's or superuser's URL copied into a
// service's env file ran the service with every privilege, the grants no layer at all, and no word.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sealingPublicKey } from '@pgw/crypto';
import { createDb, type ServiceRole } from '@pgw/db';
import { execa } from 'execa';
import { sql } from 'kysely';
import { freeLoopbackPort, serviceEntry } from '../support/gateway.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('a service refuses a Postgres login that holds more than its own role', () => {
  let database: TestDatabase;
  const password = randomBytes(18).toString('base64url');
  const made: string[] = [];
  const urlAs = (login: string) => database.urlFor('pgw_api').replace(/^postgres:\/\/[^:]+:[^@]+@/, `postgres://${login}:${password}@`);
  const login = async (name: string, attributes: string, memberOf: string[]) => {
    const full = `${name}_${database.name}`;
    await sql.raw(`CREATE ROLE ${full} LOGIN ${attributes} PASSWORD '${password}'${memberOf.length > 0 ? ` IN ROLE ${memberOf.join(', ')}` : ''}`).execute(database.db);
    made.push(full);
    return full;
  };
  const queryAs = async (url: string, role: ServiceRole) => {
    const db = createDb(url, { applicationName: 'role-test', maxConnections: 1, serviceRole: role });
    try {
      return await sql<{ n: number }>`SELECT count(*)::int AS n FROM mappings`.execute(db);
    } finally {
      await db.destroy();
    }
  };

  before(async () => {
    database = await createTestDatabase({ prefix: 'pgw_role' });
  });
  after(async () => {
    for (const role of made) await sql.raw(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).execute(database.db).catch(() => undefined);
    await database?.drop();
  });

  it('serves its own role (a member of it, as the tests log in) and refuses every wider login, naming why', async () => {
    assert.equal((await queryAs(database.urlFor('pgw_api'), 'pgw_api')).rows[0]?.n, 0);
    const refused = async (url: string, role: ServiceRole, why: RegExp) =>
      assert.rejects(queryAs(url, role), (error: Error) => error.name === 'ServiceRoleError' && why.test(error.message) && error.message.includes(role) && !error.message.includes(password));
    await refused(database.adminUrl, 'pgw_api', /logs in as "root", which holds superuser/);
    await refused(urlAs(await login('creator', 'CREATEDB CREATEROLE', ['pgw_api'])), 'pgw_api', /holds CREATEROLE, CREATEDB/);
    await refused(database.urlFor('pgw_health'), 'pgw_api', /which is not pgw_api nor a member of it/);
    await refused(urlAs(await login('both', '', ['pgw_api', 'pgw_forwarder'])), 'pgw_api', /which also holds pgw_forwarder/);
    // Reaching more through a membership: a superuser role (SET ROLE), a predefined role that reads
    // every table, the owner through a NOINHERIT role in between; and a superuser's URL that only
    // sets the role in its options (SET ROLE NONE gives it all back).
    const superRole = `super_${database.name}`;
    await sql.raw(`CREATE ROLE ${superRole} NOLOGIN SUPERUSER`).execute(database.db);
    made.push(superRole);
    await refused(urlAs(await login('viasuper', '', ['pgw_api', superRole])), 'pgw_api', new RegExp(`which also holds ${superRole}`));
    await refused(urlAs(await login('readall', '', ['pgw_api', 'pg_read_all_data'])), 'pgw_api', /which also holds pg_read_all_data/);
    await refused(`${database.adminUrl}&options=${encodeURIComponent('-c role=pgw_api')}`, 'pgw_api', /logs in as "root", which holds superuser/);
    // The migrations' role: it owns the tables, so every grant of the service roles is moot.
    const owner = await login('owner', '', []);
    await sql.raw(`ALTER TABLE proxies OWNER TO ${owner}`).execute(database.db);
    await refused(urlAs(await login('owning', '', ['pgw_api', owner])), 'pgw_api', /which owns pgw's tables/);
    const middle = `middle_${database.name}`;
    await sql.raw(`CREATE ROLE ${middle} NOLOGIN NOINHERIT IN ROLE ${owner}`).execute(database.db);
    made.push(middle);
    await refused(urlAs(await login('indirect', '', ['pgw_api', middle])), 'pgw_api', /which owns pgw's tables/);
  });

  for (const service of ['api', 'health'] as const) {
    it(`${service} started with the owner's URL says why in one line and exits non-zero`, async () => {
      const own = service === 'api'
        ? {
            PGW_SECRET_PUBLIC_KEY: sealingPublicKey(randomBytes(32)).toString('base64'),
            PGW_JWT_SECRET: randomBytes(32).toString('hex'),
            PGW_CSRF_SECRET: randomBytes(32).toString('hex'),
            PGW_API_PORT: String(await freeLoopbackPort()),
            PGW_API_METRICS_PORT: String(await freeLoopbackPort()),
          }
        : { PGW_SECRET_KEY: randomBytes(32).toString('hex'), PGW_METRICS_PORT: String(await freeLoopbackPort()) };
      const result = await execa('node', [serviceEntry(service)], {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGW_DATABASE_URL: database.adminUrl, PGW_REDIS_URL: '/nonexistent/redis.sock', ...own },
        extendEnv: false,
        reject: false,
        timeout: 30_000,
      });
      assert.notEqual(result.exitCode, 0, result.stdout);
      assert.match(result.stderr.trim(), new RegExp(`^pgw-${service}: cannot start: .*PGW_DATABASE_URL logs in as "root", which holds superuser: give this service a login of its own role pgw_${service}`));
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    });
  }
});
