#!/usr/bin/env node
import { fields, loadConfig } from '@pgw/config';
import { createDb } from '@pgw/db';
import { z } from 'zod';
import { setServiceRolePasswords } from './commands/db-roles.js';
import { migrate, printMigrationStatus } from './commands/migrate.js';
import { createUser, parseUserCreateArgs, readNewPassword } from './commands/user-create.js';

const USAGE = `usage: pgw <command>
  migrate            apply pending migrations (safe to re-run)
  migrate --status   list migrations and whether each is applied (exit 3 when some are pending)
  db roles           give the service roles their login passwords from PGW_DB_PASSWORD_*
  user create --role admin|viewer --username NAME
                     create a console/API user; the password is asked for on a terminal
                     (twice, not shown), or read from PGW_NEW_PASSWORD or a pipe`;

const out = (line: string) => process.stdout.write(`${line}\n`);

/** The words of the commands USAGE lists: an unknown invocation shows these and hides the rest. */
const COMMAND_WORDS = new Set(['migrate', 'db', 'roles', 'user', 'create']);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const known = new Set(['migrate', 'migrate --status', 'db roles']);
  const invocation = [command, ...rest].join(' ');
  const userCreate = command === 'user' && rest[0] === 'create';
  if (!known.has(invocation) && !userCreate) {
    // Flags by name only, and no word but the commands' own: one may be a password typed in the wrong place.
    const shown = argv.map((word) => (word.startsWith('--') ? word.split('=')[0] : COMMAND_WORDS.has(word) ? word : '…')).join(' ');
    process.stderr.write(`${command ? `pgw: unknown command "${shown}"\n` : ''}${USAGE}\n`);
    return 2;
  }
  let userArgs: ReturnType<typeof parseUserCreateArgs> | undefined;
  try {
    userArgs = userCreate ? parseUserCreateArgs(rest.slice(1)) : undefined;
  } catch (error) {
    // A usage error, as an unknown command is (exit 2): nothing was tried.
    process.stderr.write(`pgw: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const password = userArgs ? await readNewPassword(process.env, process.stdin, userArgs.username, process.stderr) : undefined;
  const config = loadConfig(z.object({ PGW_DATABASE_URL: fields.postgresUrl }));
  const db = createDb(config.PGW_DATABASE_URL, { applicationName: 'pgw-cli', maxConnections: 1 });
  try {
    if (invocation === 'migrate') await migrate(db, out);
    if (invocation === 'migrate --status') return (await printMigrationStatus(db, out)) > 0 ? 3 : 0;
    if (invocation === 'db roles') await setServiceRolePasswords(db, process.env, out);
    if (userArgs && password) await createUser(db, userArgs, password, out);
    return 0;
  } finally {
    await db.destroy();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`pgw: ${error.message}\n`);
    process.exit(1);
  },
);
