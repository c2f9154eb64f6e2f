// The lab's root directory, where root reads state files that name processes to kill and network
// namespaces to delete (cleanupStaleLabs). It was /tmp/pgw-lab: a fixed name in a world-writable
// directory, which any local user could create first (after each reboot) and fill. The root is now
// in /run and refused, naming why, unless it is root's own directory that nobody else may write.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LAB_ROOT, trustedLabRoot } from '../../lab/index.js';

const NOBODY = 65534;

describe('lab root: only a directory of root\'s that nobody else may write', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'pgw-lab-root-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('is outside /tmp', () => {
    assert.ok(!LAB_ROOT.startsWith(tmpdir()), LAB_ROOT);
  });

  it('is made when missing, and taken when it is root\'s and not writable by others', () => {
    const root = join(scratch, 'fresh');
    assert.equal(trustedLabRoot(root), root);
    assert.equal(trustedLabRoot(root), root, 'again');
  });

  it('is refused when another user made it, when others may write it, or when it is a link', () => {
    const foreign = join(scratch, 'foreign');
    mkdirSync(foreign, { mode: 0o755 });
    chownSync(foreign, NOBODY, NOBODY);
    assert.throws(() => trustedLabRoot(foreign), /belongs to uid 65534, not root/);
    const open = join(scratch, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.throws(() => trustedLabRoot(open), /writable by others \(mode 777\)/);
    const link = join(scratch, 'link');
    symlinkSync(join(scratch, 'fresh'), link);
    assert.throws(() => trustedLabRoot(link), /not a directory/);
  });
});
