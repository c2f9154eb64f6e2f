// The agent reports a node STOP when the keepalived its notify hook recorded is gone (SIGKILL, OOM:
// no transition written). It looked at the recorded pid's name only: any local user may run a
// process named keepalived, and a killed keepalived's pid may be handed to it, so a dead node went
// on claiming MASTER. Real processes: a root one and one of user nobody, both named keepalived.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKeepalived } from '../../services/agent/src/ha/ha-state.js';

const dir = mkdtempSync(join(tmpdir(), 'pgw-keepalived-'));
const running: ChildProcess[] = [];

/** /bin/sleep under the name keepalived (a process's name is its executable's), run as `user`. */
function namedKeepalived(user: 'root' | 'nobody'): ChildProcess {
  const child = spawn('setpriv', [...(user === 'root' ? [] : ['--reuid=nobody', '--regid=nogroup', '--clear-groups']), join(dir, 'keepalived'), '30'], { stdio: 'ignore' });
  running.push(child);
  return child;
}

describe('isKeepalived: the recorded pid is still root’s keepalived', { timeout: 20_000 }, () => {
  before(() => {
    chmodSync(dir, 0o755);
    copyFileSync('/bin/sleep', join(dir, 'keepalived'));
    chmodSync(join(dir, 'keepalived'), 0o755);
  });
  after(() => {
    for (const child of running) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('takes root’s process named keepalived, and neither another user’s of that name, another name, nor a pid that is gone', async () => {
    const root = namedKeepalived('root');
    const impostor = namedKeepalived('nobody');
    await new Promise((resolve) => setTimeout(resolve, 300)); // both exec'd
    assert.equal(await isKeepalived(root.pid!), true, 'root’s keepalived');
    assert.equal(await isKeepalived(impostor.pid!), false, 'a process of user nobody named keepalived');
    assert.equal(await isKeepalived(process.pid), false, 'a process of another name');
    root.kill('SIGKILL');
    await new Promise((resolve) => root.once('exit', resolve));
    assert.equal(await isKeepalived(root.pid!), false, 'a pid that is gone');
  });
});
