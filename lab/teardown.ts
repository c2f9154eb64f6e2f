import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { execIn } from './netns.js';
import { isSameProcessAlive, signalGroup, stopForeignGroup } from './proc.js';
import type { LabDescription } from './types.js';

type Parts = Pick<LabDescription, 'dir' | 'namespaces' | 'processes'>;

/**
 * Lazily unmounts whatever is mounted below the lab dir (a tmpfs a test put there, the netns files
 * of a Docker daemon that ran in the lab), deepest first: a mount point cannot be removed (EBUSY).
 */
function unmountBelow(dir: string): void {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return;
  }
  const below = mounts
    .split('\n')
    .map((line) => line.split(' ')[1] ?? '')
    .filter((mountPoint) => mountPoint.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of below) execFileSync('umount', ['-l', mountPoint], { stdio: 'ignore' });
}

function pidsInNamespace(output: string): number[] {
  return output.split('\n').map(Number).filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** Removes a lab from its description: processes (recorded and any left in its namespaces), namespaces, dir. */
export async function teardownLab(parts: Parts, graceMs = 2000): Promise<void> {
  await Promise.all(parts.processes.map((p) => stopForeignGroup(p.pid, p.startTime, graceMs)));
  for (const ns of Object.values(parts.namespaces)) {
    const pids = await execIn(undefined, ['ip', 'netns', 'pids', ns], { reject: false });
    for (const pid of pidsInNamespace(pids.stdout)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await execIn(undefined, ['ip', 'netns', 'del', ns], { reject: false });
  }
  unmountBelow(parts.dir);
  rmSync(parts.dir, { recursive: true, force: true });
}

/** Same as teardownLab, synchronously and without grace: for process 'exit' handlers. */
export function teardownLabSync(parts: Parts): void {
  for (const p of parts.processes) {
    if (isSameProcessAlive(p.pid, p.startTime)) signalGroup(p.pid, 'SIGKILL');
  }
  for (const ns of Object.values(parts.namespaces)) {
    try {
      const out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      for (const pid of pidsInNamespace(out)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // namespace already gone
    }
  }
  unmountBelow(parts.dir);
  rmSync(parts.dir, { recursive: true, force: true });
}
