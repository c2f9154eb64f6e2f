import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execIn } from './netns.js';
import { isSameProcessAlive } from './proc.js';
import { LAB_ROOT, readState, stateFile, trustedLabRoot } from './state.js';
import { teardownLab } from './teardown.js';
import { haNodeNamespace, LAB_NS_PATTERN, namespaceNames } from './topology.js';
import type { LabNamespaces } from './types.js';

/** A lab dir without state.json younger than this may be a lab being created right now. */
const CREATION_GRACE_MS = 60_000;

function isLive(id: string): boolean {
  const file = stateFile(join(LAB_ROOT, id));
  if (!existsSync(file)) {
    try {
      return Date.now() - statSync(join(LAB_ROOT, id)).mtimeMs < CREATION_GRACE_MS;
    } catch {
      return false; // no dir at all: the namespaces are orphans
    }
  }
  try {
    const state = readState(file);
    return isSameProcessAlive(state.ownerPid, state.ownerStartTime);
  } catch {
    return false;
  }
}

/**
 * Removes labs whose owner process is gone: their processes, `pgw-{gw,lan,wan}-<id>` namespaces
 * and directories. Returns the ids removed. Tests call it before creating a lab.
 */
export async function cleanupStaleLabs(): Promise<string[]> {
  const ids = new Set<string>();
  for (const entry of readdirSync(trustedLabRoot())) if (/^[0-9a-f]{6}$/.test(entry)) ids.add(entry);
  const listed = await execIn(undefined, ['ip', 'netns', 'list'], { reject: false });
  for (const line of listed.stdout.split('\n')) {
    const match = LAB_NS_PATTERN.exec(line.split(' ')[0] ?? '');
    if (match?.[2]) ids.add(match[2]);
  }
  const removed: string[] = [];
  for (const id of ids) {
    if (isLive(id)) continue;
    const dir = join(LAB_ROOT, id);
    let processes: Array<{ name: string; pid: number; startTime: string; logFile: string }> = [];
    try {
      processes = readState(stateFile(dir)).processes;
    } catch {
      // no readable state: the namespace sweep still finds the processes inside the namespaces
    }
    // Plus the namespace of an HA pair's node b, if the lab was one (teardown skips absent ones).
    await teardownLab({ dir, namespaces: { ...namespaceNames(id), haNode: haNodeNamespace(id) } as LabNamespaces, processes });
    removed.push(id);
  }
  return removed;
}
