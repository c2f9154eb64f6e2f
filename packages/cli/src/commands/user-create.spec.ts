import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { parseUserCreateArgs, readNewPassword } from './user-create.js';

test('parses --role and --username in any order and names what is wrong', () => {
  assert.deepEqual(parseUserCreateArgs(['--username', 'ops', '--role', 'admin']), { role: 'admin', username: 'ops' });
  assert.throws(() => parseUserCreateArgs(['--role', 'root', '--username', 'x']), /--role must be admin or viewer/);
  assert.throws(() => parseUserCreateArgs(['--role', 'admin']), /--username/);
  assert.throws(() => parseUserCreateArgs(['--role', 'admin', '--username', 'a', '--password', 'x']), /unknown option "--password"/);
  assert.throws(() => parseUserCreateArgs(['--role', '--username', 'a']), /--role needs a value/);
});

test('an unknown option or a stray word is named without its value: a password typed on the command line is not printed back', () => {
  const refused = (args: string[]) => {
    try {
      parseUserCreateArgs(args);
    } catch (error) {
      return (error as Error).message;
    }
    assert.fail('accepted');
  };
  const withValue = refused(['--role', 'admin', '--username', 'ops', '--password=Hunter2Hunter2']);
  assert.match(withValue, /unknown option "--password"/);
  assert.doesNotMatch(withValue, /Hunter2/);
  const stray = refused(['--role', 'admin', '--username', 'ops', 'Hunter2Hunter2']);
  assert.doesNotMatch(stray, /Hunter2/);
  assert.match(stray, /argument 5/);
});

test('the password comes from the environment or the first line of stdin, and must be long enough', async () => {
  const read = (env: NodeJS.ProcessEnv, input: NodeJS.ReadableStream) => readNewPassword(env, input, 'ops', new PassThrough());
  assert.equal(await read({ PGW_NEW_PASSWORD: 'from-env-password' }, Readable.from([])), 'from-env-password');
  assert.equal(await read({}, Readable.from([Buffer.from('from-stdin-password\nignored\n')])), 'from-stdin-password');
  await assert.rejects(read({}, Readable.from([Buffer.from('short\n')])), /at least 12 characters/);
});

test('on a terminal it is asked for twice, and two different answers create nothing', async () => {
  /** A terminal whose user types each answer once its prompt is shown. */
  const session = (answers: string[]) => {
    const keyboard = Object.assign(new PassThrough(), { isTTY: true });
    const screen = new PassThrough();
    let shown = '';
    screen.on('data', (chunk: Buffer) => {
      // What the terminal shows: the cursor movements readline writes (terminal mode) left out.
      shown += chunk.toString().replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
      // Typed after the prompt is out, Enter as a terminal in raw mode sends it.
      if (/: $/.test(shown) && answers.length > 0) { const answer = answers.shift(); setImmediate(() => keyboard.write(`${answer}\r`)); }
    });
    return { keyboard, screen, shown: () => shown };
  };
  const same = session(['typed-password-1', 'typed-password-1']);
  assert.equal(await readNewPassword({}, same.keyboard, 'ops', same.screen), 'typed-password-1');
  assert.match(same.shown(), /^password for "ops": [^]*the same password again: /);
  assert.doesNotMatch(same.shown(), /typed-password/, 'the answers are not shown');
  const differ = session(['typed-password-1', 'typed-password-2']);
  await assert.rejects(readNewPassword({}, differ.keyboard, 'ops', differ.screen), /the two passwords differ; nothing was created/);
});
