// keepalived's notify hook (deploy/keepalived/pgw-ha-notify.sh) as keepalived runs it: once, with
// a FIFO keepalived holds open (O_RDWR) and writes one line per event to, in order. Before, the hook
// was keepalived's `notify`, forked per transition and not waited for: 20 quick transitions ran 20
// hooks at once, the events file listed them out of order and hooks failed on each other's
// temporary file (seen by hand on the earlier script: every one of 5 trials out of order).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../../lab/wait.js';

const HOOK = fileURLToPath(new URL('../../deploy/keepalived/pgw-ha-notify.sh', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pgw-ha-notify-'));

describe('pgw-ha-notify.sh (vrrp_notify_fifo_script)', { timeout: 30_000 }, () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes every transition in the order keepalived sent it, skips what is not a transition, and ends when keepalived closes the FIFO', async () => {
    const [fifo, stateFile, eventsFile] = ['notify.fifo', 'ha-state', 'ha-events.log'].map((name) => join(dir, name)) as [string, string, string];
    execFileSync('mkfifo', [fifo]);
    // As keepalived does: the FIFO open at both ends by keepalived itself, the hook started on it.
    const keepalivedEnd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const hook = spawn('sh', [HOOK, stateFile, eventsFile, fifo], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    hook.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => hook.on('exit', resolve));
    try {
      const states = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 'MASTER' : i % 3 === 1 ? 'FAULT' : 'BACKUP'));
      const lines = states.flatMap((state, i) => [
        `INSTANCE "pgw_lan" ${state} ${state === 'FAULT' ? 0 : 150}`,
        // Events that are not transitions, and a sync group's: none of them is the node's state.
        ...(i % 5 === 0 ? ['INSTANCE "pgw_lan" MASTER_RX_LOWER_PRI 150', 'GROUP "pgw_group" BACKUP 0', 'INSTANCE "pgw_lan" MASTER_PRIORITY 140'] : []),
      ]);
      writeSync(keepalivedEnd, lines.map((l) => `${l}\n`).join(''));
      await waitFor('every transition in the events file', 10_000, () => existsSync(eventsFile) && readFileSync(eventsFile, 'utf8').trim().split('\n').length >= states.length, { intervalMs: 50 });
      const events = readFileSync(eventsFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
      assert.deepEqual(events.map((f) => f[2]), states, 'in order, transitions only');
      assert.ok(events.every((f) => f.length === 5 && f[1] === 'pgw_lan' && f[4] === String(process.pid) && /^\d{10}\.\d{3}$/.test(f[0]!)), JSON.stringify(events.slice(0, 3)));
      const last = readFileSync(stateFile, 'utf8');
      assert.equal(last, `${events.at(-1)!.join(' ')}\n`, 'the state file holds the last transition');
      assert.equal(existsSync(`${stateFile}.tmp`), false);
    } finally {
      closeSync(keepalivedEnd);
    }
    const ended = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('running'), 5_000))]);
    if (ended === 'running') hook.kill('SIGKILL');
    assert.equal(ended, 0, `the hook ends with keepalived's end of the FIFO: ${stderr}`);
  });
});
