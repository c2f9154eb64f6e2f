import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { parseUserCreateArgs, readNewPassword } from './user-create.js';

test('parses --role and --username in any order and names what is wrong', () => {
  assert.deepEqual(parseUserCreateArgs(['--username', 'ops', '--role', 'admin']), { role: 'admin', username: 'ops' });
  assert.throws(() => parseUserCreateArgs(['--role', 'root', '--username', 'x']), /--role must be admin or viewer/);
  assert.throws(() => parseUserCreateArgs(['--role', 'admin']), /--username/);
  assert.throws(() => parseUserCreateArgs(['--role', 'admin', '--username', 'a', '--password', 'x']), /unknown option "--password"/);
  assert.throws(() => parseUserCreateArgs(['--role', '--username', 'a']), /--role needs a value/);
});

test('the password comes from the environment or the first line of stdin, and must be long enough', async () => {
  assert.equal(await readNewPassword({ PGW_NEW_PASSWORD: 'from-env-password' }, Readable.from([])), 'from-env-password');
  assert.equal(await readNewPassword({}, Readable.from([Buffer.from('from-stdin-password\nignored\n')])), 'from-stdin-password');
  await assert.rejects(readNewPassword({}, Readable.from([Buffer.from('short\n')])), /at least 12 characters/);
});
