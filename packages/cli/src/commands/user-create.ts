import argon2 from 'argon2';
import type { Db } from '@pgw/db';
import { sql } from 'kysely';
import { read } from 'read';

export interface UserCreateArgs {
  role: 'admin' | 'viewer';
  username: string;
}

const USERNAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** `--role admin|viewer --username NAME`, in any order; anything else is an error naming it. */
export function parseUserCreateArgs(args: readonly string[]): UserCreateArgs {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i]!;
    const value = args[i + 1];
    if (flag !== '--role' && flag !== '--username') throw new Error(`${unknownArgument(flag, i)} (use --role admin|viewer --username NAME)`);
    if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
    values.set(flag, value);
  }
  const role = values.get('--role');
  const username = values.get('--username');
  if (role !== 'admin' && role !== 'viewer') throw new Error('--role must be admin or viewer');
  if (!username || !USERNAME.test(username)) throw new Error('--username must be 1-64 of A-Z a-z 0-9 _ . @ -');
  return { role, username };
}

/**
 * An argument named without what may be a secret: a password typed on the command line (an option's
 * `=value`, or a word of its own) is not printed back into a terminal, a CI log or the journal.
 */
export function unknownArgument(word: string, index: number): string {
  return word.startsWith('--') ? `unknown option "${word.split('=')[0]}"` : `unexpected argument ${index + 1} (not shown)`;
}

/**
 * The password comes from PGW_NEW_PASSWORD, a terminal or a pipe, never from argv (argv is visible
 * in `ps` and shell history). On a terminal it is asked for twice with echo off (read as a pipe, it
 * was shown as typed and only Ctrl-D ended it); from a pipe only the first line counts.
 */
export async function readNewPassword(env: NodeJS.ProcessEnv, stdin: NodeJS.ReadableStream & { isTTY?: boolean }, username: string, terminalOut: NodeJS.WritableStream): Promise<string> {
  const password = env.PGW_NEW_PASSWORD || (stdin.isTTY ? await askTwice(stdin, terminalOut, username) : await firstLine(stdin));
  if (password.length < 12) throw new Error('the password must be at least 12 characters (type it at the prompt, set PGW_NEW_PASSWORD or pipe it on stdin)');
  if (password.length > 256) throw new Error('the password must be at most 256 characters');
  return password;
}

async function askTwice(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, username: string): Promise<string> {
  const ask = async (prompt: string) => {
    // terminal: read decides it by the output, and stderr may be a log (2>file): the echo is the input's.
    const answer = await read({ prompt, silent: true, replace: '', input, output, terminal: true });
    output.write('\n'); // the Enter that echo off did not show
    return answer;
  };
  const first = await ask(`password for "${username}": `);
  if (first !== (await ask('the same password again: '))) throw new Error('the two passwords differ; nothing was created');
  return first;
}

async function firstLine(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Creates a console/API user with an Argon2id hash (same parameters the api uses), audited as the CLI. */
export async function createUser(db: Db, args: UserCreateArgs, password: string, out: (line: string) => void): Promise<void> {
  const passwordHash = await argon2.hash(password, { type: argon2.argon2id });
  await db.transaction().execute(async (trx) => {
    // Unique whatever the case (migration 0024), as the api checks it.
    const existing = await trx.selectFrom('users').select('username').where(sql`lower(username)`, '=', args.username.toLowerCase()).executeTakeFirst();
    if (existing) throw new Error(`user "${existing.username}" already exists`);
    const row = await trx.insertInto('users').values({ username: args.username, passwordHash, role: args.role }).returning(['id', 'username', 'role']).executeTakeFirstOrThrow();
    await trx
      .insertInto('auditLog')
      .values({
        actorUserId: null,
        actorUsername: 'pgw-cli',
        sourceIp: null,
        action: 'create',
        entityType: 'user',
        entityId: String(row.id),
        before: null,
        after: JSON.stringify(row),
        requestId: `cli-${process.pid}`,
      })
      .execute();
  });
  out(`created ${args.role} "${args.username}"`);
}
