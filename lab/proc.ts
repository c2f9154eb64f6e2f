import { readFileSync } from 'node:fs';

/** Kernel start time (clock ticks since boot) of pid, undefined when the process does not exist. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces: split after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19]; // field 22 overall
  } catch {
    return undefined;
  }
}

/** True when pid exists and is still the process that was started at startTime (not a zombie). */
export function isSameProcessAlive(pid: number, startTime: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] !== 'Z' && fields[19] === startTime;
  } catch {
    return false;
  }
}

/** Sends sig to the process group of pid, ignoring "no such process". */
export function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Stops a process group that may not be our child (e.g. started by an earlier `lab up`):
 * SIGTERM, poll, SIGKILL after graceMs. Does nothing if pid was reused by another process.
 */
export async function stopForeignGroup(pid: number, startTime: string, graceMs = 3000): Promise<void> {
  if (!isSameProcessAlive(pid, startTime)) return;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isSameProcessAlive(pid, startTime)) await sleep(50);
  // Also reaps helpers the leader left behind in its group (e.g. dante's child processes).
  signalGroup(pid, 'SIGKILL');
}
