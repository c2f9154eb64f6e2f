import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

const DOC = readFileSync(new URL('../../docs/DEPLOYMENT.md', import.meta.url), 'utf8');
const SHELL_BLOCKS = [...DOC.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);

test('the documented steps never put a role password in SQL text: the server logs a failing statement (and DDL with log_statement = ddl)', () => {
  const setsPassword = SHELL_BLOCKS.filter((block) => /\bPASSWORD\b/.test(block));
  assert.ok(setsPassword.length > 0, 'DEPLOYMENT.md creates the owner role in a shell block');
  for (const block of setsPassword) {
    // The statement's value must be the SCRAM verifier, computed from the password on stdin.
    assert.match(block, /scramSha256Verifier\(readFileSync\(0/, `a password in SQL text:\n${block}`);
    assert.doesNotMatch(block, /PASSWORD :'pw'[^\n]*"\s*"\$\(sed -n s\/\^POSTGRES_PASSWORD/, block);
  }
});
