// `pgw user create` typed at a real terminal (a pseudo-terminal from util-linux `script`): the
// password was read as a pipe, so the terminal showed it as typed (to anyone behind the operator,
// and in a recorded session) and only Ctrl-D ended it. Now it is asked for twice with echo off.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const CLI = 'node --conditions=pgw-source --import tsx packages/cli/src/main.ts';
const PASSWORD = 'typed-at-the-terminal-1';

/**
 * Runs the CLI on a pseudo-terminal; each answer is typed once the screen ends with a prompt
 * (`: `), or after 5 s if none comes (then Ctrl-D, as the old reader needed). Bounded at 30 s.
 */
function atTerminal(args: string, env: NodeJS.ProcessEnv, answers: string[]): Promise<{ code: number | null; screen: string }> {
  const child = spawn('script', ['-qefc', `${CLI} ${args}`, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  let typed = 0;
  const type = () => {
    if (typed < answers.length) child.stdin.write(`${answers[typed++]}\r`);
    else if (typed++ === answers.length) child.stdin.write('\x04');
  };
  const noPrompt = setInterval(type, 5000);
  const show = (chunk: Buffer) => {
    screen += chunk.toString();
    if (/: $/.test(screen)) setTimeout(type, 50);
  };
  child.stdout.on('data', show);
  child.stderr.on('data', show);
  const limit = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => child.once('close', (code) => {
    clearInterval(noPrompt);
    clearTimeout(limit);
    child.stdin.destroy();
    resolve({ code, screen });
  }));
}

describe('pgw user create at a terminal', () => {
  let database: TestDatabase;
  before(async () => {
    database = await createTestDatabase();
  });
  after(async () => database?.drop());
  const users = async (name: string) => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM users WHERE username = ${name}`.execute(database.db)).rows[0]!.n;

  it('asks for the password twice and never shows it', async () => {
    const run = await atTerminal('user create --role viewer --username at-terminal', { PGW_DATABASE_URL: database.adminUrl }, [PASSWORD, PASSWORD]);
    assert.equal(run.code, 0, run.screen);
    assert.doesNotMatch(run.screen, new RegExp(PASSWORD), `the terminal showed the password:\n${run.screen}`);
    assert.match(run.screen, /password for "at-terminal": [^]*the same password again: [^]*created viewer "at-terminal"/);
    assert.equal(await users('at-terminal'), 1);
  });

  it('with stderr to a file (where the prompts go) the terminal still shows nothing typed', async () => {
    const log = join(tmpdir(), `pgw-cli-prompts-${process.pid}.log`);
    try {
      const run = await atTerminal(`user create --role viewer --username logged-prompts 2>${log}`, { PGW_DATABASE_URL: database.adminUrl }, [PASSWORD, PASSWORD]);
      assert.equal(run.code, 0, `${run.screen}\n${readFileSync(log, 'utf8')}`);
      assert.doesNotMatch(run.screen, new RegExp(PASSWORD), `the terminal showed the password:\n${run.screen}`);
      assert.equal(await users('logged-prompts'), 1);
    } finally {
      rmSync(log, { force: true });
    }
  });

  it('two different answers: refused in one line, nothing created', async () => {
    const run = await atTerminal('user create --role viewer --username mistyped', { PGW_DATABASE_URL: database.adminUrl }, [PASSWORD, `${PASSWORD}x`]);
    assert.equal(run.code, 1, run.screen);
    assert.match(run.screen, /pgw: the two passwords differ; nothing was created/);
    assert.equal(await users('mistyped'), 0);
  });
});
