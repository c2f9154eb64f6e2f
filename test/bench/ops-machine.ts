/** What the operations benches print about the machine, so readers can judge their figures. */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** "1.20 0.95 0.80" (1, 5, 15 minutes) and the core count. */
export function machineLoad(): string {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ');
  return `load average ${one} ${five} ${fifteen} on ${cpus().length} cores`;
}

export function loadAverage1m(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** USER_HZ: /proc/<pid>/stat counts CPU time in ticks of 10 ms on Linux. */
const TICK_MS = 10;

/**
 * CPU time (user + system) a live process has used since it started, and that of the children it
 * waited for (an agent's nft and conntrack runs), in ms; null once the process is gone.
 */
export function cpuTimesMs(pid: number): { own: number; children: number } | null {
  const stat = readStat(`/proc/${pid}/stat`);
  if (stat === null) return null;
  return { own: stat.userMs + stat.systemMs, children: stat.childrenMs };
}

/**
 * A /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file: the command name and the CPU times in ms;
 * null once the process or thread is gone.
 */
function readStat(file: string): { name: string; userMs: number; systemMs: number; childrenMs: number } | null {
  let stat: string;
  try {
    stat = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  // Fields after the command name (which may contain spaces) in ")": utime 14, stime 15, cutime 16, cstime 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    userMs: fields[11]! * TICK_MS,
    systemMs: fields[12]! * TICK_MS,
    childrenMs: (fields[13]! + fields[14]!) * TICK_MS,
  };
}

/**
 * User and system CPU time of each of a live process's threads since it started, in ms, summed by
 * thread name, the main thread apart as "main" (Node names its threads after the program, the main
 * one too): where a process's CPU goes. Threads gone are not in it.
 */
export function threadCpuMs(pid: number): Map<string, { user: number; system: number }> {
  const byName = new Map<string, { user: number; system: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readStat(`/proc/${pid}/task/${tid}/stat`);
    if (stat === null) continue; // the thread ended between the listing and the read
    const name = tid === String(pid) ? 'main' : stat.name;
    const sum = byName.get(name) ?? { user: 0, system: 0 };
    sum.user += stat.userMs;
    sum.system += stat.systemMs;
    byName.set(name, sum);
  }
  return byName;
}

/** CPU time (user + system) a live process has used since it started, in ms; null once it is gone. */
export function cpuMs(pid: number): number | null {
  return cpuTimesMs(pid)?.own ?? null;
}

/** Resident memory of a live process now and at its peak, in MiB. */
export function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`no ${key} for pid ${pid}`);
    return Number(match[1]) / 1024;
  };
  return { rss: mib('VmRSS'), peak: mib('VmHWM') };
}

export function rssMiB(pid: number): number {
  return memoryMiB(pid).rss;
}

/**
 * The node process at or below pid: the lab starts services through wrappers (nsenter, setpriv,
 * the agent's run-agent.sh) whose pid is a few-MB parent. Throws when there is none.
 */
export function nodePid(pid: number): number {
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift()!;
    if (readFileSync(`/proc/${current}/comm`, 'utf8').trim() === 'node') return current;
    for (const task of readdirSync(`/proc/${current}/task`)) {
      queue.push(...readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  }
  throw new Error(`no node process under pid ${pid}`);
}

/** cpuMs of the node process at or below pid (nodePid); null once it is gone. */
export function nodeCpuMs(pid: number): number | null {
  try {
    return cpuMs(nodePid(pid));
  } catch {
    return null;
  }
}
