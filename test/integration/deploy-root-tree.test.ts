// scripts/deploy/check-root-tree.sh, which install-systemd.sh runs first: root runs the agent, its
// stop hook and the guard's nft file from /opt/pgw, so nobody but root may be able to change what
// it reads there. Real files, owners and modes, in a directory of its own under /var/lib (its
// ancestors root's alone, as /opt's are).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../scripts/deploy/check-root-tree.sh', import.meta.url));
const NOBODY = 65534;

const check = (dir: string) => spawnSync('sh', [SCRIPT, dir], { encoding: 'utf8' });

describe('check-root-tree.sh: a tree root runs pgw from is root\'s alone', () => {
  let base: string;
  /** A root-owned tree as an install leaves it: a file, a directory, an internal symlink. */
  const tree = (name: string) => {
    const dir = join(base, name);
    mkdirSync(join(dir, 'guard'), { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, 'guard', 'pgw-guard.nft'), 'table inet pgw_guard {}\n', { mode: 0o644 });
    symlinkSync('guard/pgw-guard.nft', join(dir, 'current.nft'));
    symlinkSync('nowhere', join(dir, 'dangling'));
    return dir;
  };
  before(() => {
    base = mkdtempSync('/var/lib/pgw-root-tree-');
    chmodSync(base, 0o755);
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  it('passes a tree that is root\'s alone, dangling links and all', () => {
    const result = check(tree('clean'));
    assert.deepEqual([result.status, result.stderr], [0, '']);
  });

  it('refuses a file another user owns or others may write, naming it and the fix', () => {
    const dir = tree('owned');
    chownSync(join(dir, 'guard', 'pgw-guard.nft'), NOBODY, NOBODY);
    const owned = check(dir);
    assert.equal(owned.status, 1);
    assert.match(owned.stderr, /guard\/pgw-guard\.nft is not root's alone \(nobody:nogroup .*chown -R root:root .*chmod -R go-w/);
    const writable = tree('writable');
    chmodSync(join(writable, 'guard'), 0o777);
    assert.match(check(writable).stderr, /guard is not root's alone \(root:root drwxrwxrwx\)/);
  });

  it('judges a symlinked tree by where it leads, and a symlink in it by its target', () => {
    // Passed before: find did not follow the link it was given, nor links inside.
    const elsewhere = tree('elsewhere');
    chmodSync(join(elsewhere, 'guard', 'pgw-guard.nft'), 0o666);
    const link = join(base, 'opt-pgw');
    symlinkSync(elsewhere, link);
    assert.match(check(link).stderr, /elsewhere\/guard\/pgw-guard\.nft is not root's alone \(root:root -rw-rw-rw-\)/);
    const inside = tree('inside');
    const target = join(base, 'outside.nft');
    writeFileSync(target, '', { mode: 0o666 });
    chmodSync(target, 0o666);
    symlinkSync(target, join(inside, 'guard', 'extra.nft'));
    assert.match(check(inside).stderr, /extra\.nft -> .*outside\.nft is not root's alone \(root:root -rw-rw-rw-\)/);
  });

  it('refuses a link in the tree that leads out of it, to a root-only file too (its directory is not the tree\'s), or dangles out of it', () => {
    const out = tree('leads-out');
    const dir = join(base, 'dev-files');
    mkdirSync(dir, { mode: 0o755 });
    chownSync(dir, NOBODY, NOBODY);
    writeFileSync(join(dir, 'root-file.js'), '', { mode: 0o644 });
    symlinkSync(join(dir, 'root-file.js'), join(out, 'guard', 'helper.js'));
    assert.match(check(out).stderr, /helper\.js -> .*dev-files\/root-file\.js is not root's alone .*a symlink in the tree leads out of it/);
    const dangling = tree('dangles-out');
    symlinkSync(join(dir, 'later.js'), join(dangling, 'guard', 'later.js'));
    assert.match(check(dangling).stderr, /later\.js -> .*dev-files\/later\.js is not root's alone \(dangling\)/);
  });

  it('refuses a way to the tree through a link another user may repoint', () => {
    const release = tree('release');
    const dev = join(base, 'home-dev2');
    mkdirSync(dev, { mode: 0o755 });
    chownSync(dev, NOBODY, NOBODY);
    symlinkSync(release, join(dev, 'current'));
    const opt = join(base, 'opt-pgw-chain');
    symlinkSync(join(dev, 'current'), opt);
    const result = check(opt);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /home-dev2 is not root's alone \(nobody:nogroup/);
  });

  it('refuses another filesystem mounted in the tree (find -xdev did not look inside it)', () => {
    const mountedIn = tree('mounted-in');
    mkdirSync(join(mountedIn, 'plugins'));
    // In a mount namespace of its own: the machine's mounts are not touched.
    const result = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o mode=0777 pgw-test "$1/plugins" && sh "$2" "$1"`, 'sh', mountedIn, SCRIPT], { encoding: 'utf8' });
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /mounted-in\/plugins is not root's alone .*another filesystem is mounted in the tree/);
  });

  it('refuses a tree under a directory another user may change (they could swap the tree)', () => {
    const home = join(base, 'home-dev');
    mkdirSync(home, { mode: 0o755 });
    chownSync(home, NOBODY, NOBODY);
    mkdirSync(join(home, 'pgw'));
    const result = check(join(home, 'pgw'));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /home-dev is not root's alone \(nobody:nogroup .*every directory above it root's/);
  });
});
