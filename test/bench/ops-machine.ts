/** What the operations benches print about the machine, so readers can judge their figures. */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** "1.20 0.95 0.80" (1, 5, 15 minutes) and the core count. */
export function machineLoad(): string {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  return `load average ${one} ${five} ${fifteen} on ${cpus().length} cores`;
}

export function loadAverage1m(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** CPU time (user + system) a live process has used since it started, in ms; null once it is gone. */
export function cpuMs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name (which may contain spaces) in ")": utime is field 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Math.round((ticks * 1000) / 100); // USER_HZ is 100 on Linux
}
