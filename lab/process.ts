import { closeSync, openSync } from 'node:fs';
import { basename } from 'node:path';
import { spawn } from 'node:child_process';
import { procStartTime, signalGroup } from './proc.js';
import type { LabProcess } from './types.js';

export interface SpawnProcessOptions {
  logFile: string;
  name?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Let the process outlive this Node process (no pipes, unref'd). */
  detached?: boolean;
}

/**
 * Starts a long-running process in its own process group (so stop/kill reach its helpers too),
 * stdout and stderr appended to logFile. Resolves once the process has been spawned.
 */
export async function spawnProcess(argv: readonly string[], opts: SpawnProcessOptions): Promise<LabProcess> {
  const file = argv[0];
  if (file === undefined) throw new Error('spawnProcess: empty argv');
  const args = argv.slice(1);
  const logFd = openSync(opts.logFile, 'a');
  // node:child_process rather than execa: the log file descriptor goes straight to the child,
  // so a detached process keeps logging after this Node process has exited.
  const child = spawn(file, args, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: opts.env,
    cwd: opts.cwd,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (err: Error) => reject(new Error(`cannot start ${file}: ${err.message}`)));
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid!;
  let alive = true;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      alive = false;
      resolve(code);
    });
  });
  if (opts.detached) child.unref();
  const startTime = procStartTime(pid) ?? '';

  async function stop(graceMs = 3000): Promise<void> {
    if (alive) {
      signalGroup(pid, 'SIGTERM');
      const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    }
    // Helpers the leader left behind in its group (e.g. dante's children).
    signalGroup(pid, 'SIGKILL');
  }

  async function kill(): Promise<void> {
    signalGroup(pid, 'SIGKILL');
    await exited;
  }

  return {
    name: opts.name ?? basename(file),
    pid,
    startTime,
    logFile: opts.logFile,
    exited,
    isAlive: () => alive,
    stop,
    kill,
  };
}
