// keepalived's notify hook (deploy/keepalived/pgw-ha-notify.sh) as keepalived runs it: once, with
// a FIFO keepalived holds open (O_RDWR) and writes one line per event to, in order. Before, the hook
// was keepalived's `notify`, forked per transition and not waited for: 20 quick transitions ran 20
// hooks at once, the events file listed them out of order and hooks failed on each other's
// temporary file (seen by hand on the earlier script: every one of 5 trials out of order).
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
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
      const states: string[] = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? 'MASTER' : i % 3 === 1 ? 'FAULT' : 'BACKUP'));
      const lines = states.flatMap((state, i) => [
        `INSTANCE "pgw_lan" ${state} ${state === 'FAULT' ? 0 : 150}`,
        // Events that are not transitions, and a sync group's: none of them is the node's state.
        ...(i % 5 === 0 ? ['INSTANCE "pgw_lan" MASTER_RX_LOWER_PRI 150', 'GROUP "pgw_group" BACKUP 0', 'INSTANCE "pgw_lan" MASTER_PRIORITY 140'] : []),
      ]);
      writeSync(keepalivedEnd, lines.map((l) => `${l}\n`).join(''));
      await waitFor('every transition in the events file', 10_000, () => existsSync(eventsFile) && readFileSync(eventsFile, 'utf8').trim().split('\n').length >= states.length, { intervalMs: 50 });
      // keepalived's shutdown: SIGTERM to its scripts first (also their parent-death signal), then
      // the STOP it writes. The hook lives on to write it, until keepalived's end closes.
      hook.kill('SIGTERM');
      writeSync(keepalivedEnd, 'INSTANCE "pgw_lan" STOP 0\n');
      states.push('STOP');
      await waitFor('the STOP after SIGTERM in the events file', 5_000, () => readFileSync(eventsFile, 'utf8').trim().split('\n').length >= states.length, { intervalMs: 50 });
      const events = readFileSync(eventsFile, 'utf8').trim().split('\n').map((l) => l.split(' '));
      assert.deepEqual(events.map((f) => f[2]), states, 'in order, transitions only');
      assert.ok(events.every((f) => f.length === 5 && f[1] === 'pgw_lan' && f[4] === String(process.pid) && /^\d{10}\.\d{3}$/.test(f[0]!)), JSON.stringify(events.slice(0, 3)));
      const last = readFileSync(stateFile, 'utf8');
      assert.equal(last, `${events.at(-1)!.join(' ')}\n`, 'the state file holds the last transition');
      assert.deepEqual(readdirSync(dir).filter((name) => name.includes('.tmp')), [], 'no temporary file left');
    } finally {
      closeSync(keepalivedEnd);
    }
    const ended = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('running'), 5_000))]);
    if (ended === 'running') hook.kill('SIGKILL');
    assert.equal(ended, 0, `the hook ends with keepalived's end of the FIFO: ${stderr}`);
  });

  it('a write it cannot do goes to syslog too: keepalived sends its scripts\' stderr to /dev/null', async () => {
    // syslog is the host's (/dev/log, the journal under systemd; this test machine has none): a
    // logger first on PATH records what the hook hands it, as keepalived runs the hook (stdout and
    // stderr to /dev/null).
    const bin = join(dir, 'bin');
    const logged = join(dir, 'logged');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'logger'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${logged}'\n`, { mode: 0o755 });
    const fifo = join(dir, 'notify-3.fifo');
    execFileSync('mkfifo', [fifo]);
    const keepalivedEnd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    // The state file's directory is missing (keepalived set up before the agent ever ran).
    const hook = spawn('sh', [HOOK, join(dir, 'missing', 'ha-state'), join(dir, 'events-3'), fifo], { stdio: 'ignore', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    try {
      writeSync(keepalivedEnd, 'INSTANCE "pgw_lan" MASTER 150\n');
      await waitFor('the failed write in syslog', 5_000, () => existsSync(logged), { intervalMs: 50 });
      assert.match(readFileSync(logged, 'utf8'), /^-t pgw-ha-notify -p daemon\.err -- cannot write .*missing\/ha-state .*MASTER 150 /m);
      assert.match(readFileSync(join(dir, 'events-3'), 'utf8'), / pgw_lan MASTER 150 /, 'the events file is still written');
    } finally {
      closeSync(keepalivedEnd);
      hook.kill('SIGKILL');
    }
  });

  it('keeps the events file bounded: past PGW_HA_EVENTS_MAX_BYTES it becomes <file>.1 (one generation kept) and a new one starts', async () => {
    const fifo = join(dir, 'notify-4.fifo');
    const eventsFile = join(dir, 'events-4');
    execFileSync('mkfifo', [fifo]);
    // A flapping pair's history so far: just under the limit.
    const history = '1764590000.000 pgw_lan FAULT 0 1\n'.repeat(31);
    writeFileSync(eventsFile, history);
    const keepalivedEnd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const hook = spawn('sh', [HOOK, join(dir, 'state-4'), eventsFile, fifo], { stdio: 'ignore', env: { ...process.env, PGW_HA_EVENTS_MAX_BYTES: '1024' } });
    try {
      const transitions = 60;
      // Then a STOP: the last line, once every transition before it is written.
      writeSync(keepalivedEnd, `${Array.from({ length: transitions }, (_, i) => `INSTANCE "pgw_lan" ${i % 2 === 0 ? 'MASTER' : 'BACKUP'} 150\n`).join('')}INSTANCE "pgw_lan" STOP 0\n`);
      const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);
      await waitFor('the last transition written', 10_000, () => lines(eventsFile).at(-1)?.includes(' STOP ') === true, { intervalMs: 50 });
      for (const file of [eventsFile, `${eventsFile}.1`]) {
        const size = readFileSync(file).length;
        assert.ok(size > 0 && size <= 1024 + 64, `${file}: ${size} bytes, limit 1024 (one line may cross it)`);
      }
      assert.equal(existsSync(`${eventsFile}.2`), false, 'one old generation only');
      // Nothing lost between the two files: the newest lines are the last transitions, in order.
      const kept = [...lines(`${eventsFile}.1`), ...lines(eventsFile)].map((l) => l.split(' ')[2]);
      assert.deepEqual(kept.slice(-11), [...Array.from({ length: 10 }, (_, i) => ((transitions - 10 + i) % 2 === 0 ? 'MASTER' : 'BACKUP')), 'STOP']);
    } finally {
      closeSync(keepalivedEnd);
      hook.kill('SIGKILL');
    }
  });

  it('refuses, naming the fix, to run from a keepalived.conf of before the FIFO (its `notify` passes INSTANCE where the FIFO goes)', () => {
    writeFileSync(join(dir, 'not-a-fifo'), '');
    for (const args of [['INSTANCE', 'pgw_lan', 'MASTER', '150'], [join(dir, 'not-a-fifo')]]) {
      const run = spawnSync('sh', [HOOK, join(dir, 'state-2'), join(dir, 'events-2'), ...args], { encoding: 'utf8', timeout: 5_000 });
      assert.equal(run.status, 2, args.join(' '));
      assert.match(run.stderr, /is not a FIFO: render keepalived\.conf again/);
      assert.equal(existsSync(join(dir, 'state-2')), false);
    }
  });
});
