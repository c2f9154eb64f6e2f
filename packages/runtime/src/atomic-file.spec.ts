import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';

describe('writeFileAtomic', () => {
  it('creates the directory, writes the file 0600 and leaves no temporary file', async () => {
    const base = mkdtempSync(join(tmpdir(), 'pgw-atomic-'));
    try {
      const dir = join(base, 'state');
      await writeFileAtomic(dir, 'policy.json', 'one\n');
      await writeFileAtomic(dir, 'policy.json', 'two\n');
      assert.equal(readFileSync(join(dir, 'policy.json'), 'utf8'), 'two\n');
      assert.equal(statSync(join(dir, 'policy.json')).mode & 0o777, 0o600);
      assert.deepEqual(readdirSync(dir), ['policy.json']);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('a failed write keeps the old file and removes its temporary file', async () => {
    const base = mkdtempSync(join(tmpdir(), 'pgw-atomic-'));
    try {
      await writeFileAtomic(base, 'policy.json', 'old\n');
      // The target is a non-empty directory now: the rename fails after the temporary file was written.
      const blocked = join(base, 'blocked');
      await writeFileAtomic(join(blocked, 'policy.json'), 'x', 'inside\n');
      await assert.rejects(writeFileAtomic(blocked, 'policy.json', 'new\n'));
      assert.deepEqual(readdirSync(blocked), ['policy.json']);
      assert.equal(readFileSync(join(base, 'policy.json'), 'utf8'), 'old\n');
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('readFileIfExists: null for a missing file, its text otherwise, other errors thrown', async () => {
    const base = mkdtempSync(join(tmpdir(), 'pgw-atomic-'));
    try {
      assert.equal(await readFileIfExists(base, 'policy.json'), null);
      await writeFileAtomic(base, 'policy.json', 'one\n');
      assert.equal(await readFileIfExists(base, 'policy.json'), 'one\n');
      await assert.rejects(readFileIfExists(base, '.'), /EISDIR/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});
