import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Db } from '@pgw/db';
import { DummyDriver, Kysely, type KyselyPlugin, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler } from 'kysely';
import { setServiceRolePasswords } from './db-roles.js';

/** A Kysely that runs nothing and records each statement's SQL (the order of the ALTERs is what is judged). */
function recordingDb(): { db: Db; statements: string[] } {
  const statements: string[] = [];
  const compiler = new PostgresQueryCompiler();
  const recorder: KyselyPlugin = {
    transformQuery: (args) => (statements.push(compiler.compileQuery(args.node, args.queryId).sql), args.node),
    transformResult: async (args) => args.result,
  };
  const db = new Kysely<never>({
    dialect: { createAdapter: () => new PostgresAdapter(), createDriver: () => new DummyDriver(), createIntrospector: (k) => new PostgresIntrospector(k), createQueryCompiler: () => compiler },
    plugins: [recorder],
  }) as unknown as Db;
  return { db, statements };
}

describe('pgw db roles', () => {
  it('changes no role when one password is bad, whichever comes first', async () => {
    const { db, statements } = recordingDb();
    const env = { PGW_DB_PASSWORD_API: 'a'.repeat(20), PGW_DB_PASSWORD_HEALTH: 'h'.repeat(20), PGW_DB_PASSWORD_AGENT: 'short' };
    await assert.rejects(setServiceRolePasswords(db, env, () => undefined), /PGW_DB_PASSWORD_AGENT: must be at least 16 characters \(no role was changed\)/);
    assert.deepEqual(statements.filter((s) => s.startsWith('ALTER ROLE')), []);
  });

  it('changes every role given a password, never writing the password itself', async () => {
    const { db, statements } = recordingDb();
    const lines: string[] = [];
    await setServiceRolePasswords(db, { PGW_DB_PASSWORD_API: 'a-secret-of-20-chars', PGW_DB_PASSWORD_FORWARDER: 'f-secret-of-20-chars' }, (line) => lines.push(line));
    const alters = statements.filter((s) => s.startsWith('ALTER ROLE'));
    assert.equal(alters.length, 2);
    assert.ok(alters.every((s) => /LOGIN PASSWORD 'SCRAM-SHA-256\$/.test(s) && !s.includes('secret-of-20')), alters.join('\n'));
    assert.deepEqual(lines.filter((l) => l.startsWith('login enabled')), ['login enabled for pgw_api', 'login enabled for pgw_forwarder']);
  });
});
