import { lstatSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabDescription } from './types.js';

/**
 * Every lab keeps its configs, logs, sockets and state.json in LAB_ROOT/<id>. Root's /run, not
 * /tmp: root reads the state files there to kill the processes and delete the namespaces they
 * list (cleanupStaleLabs), so a directory another user made first (/tmp/pgw-lab was a fixed name
 * anyone could create after a reboot) would have let that user steer both.
 */
export const LAB_ROOT = '/run/pgw-lab';

/**
 * LAB_ROOT made if missing, and checked: a directory (not a link) of root's that nobody else may
 * write. Throws naming what is wrong otherwise; nothing in it is read or written then.
 */
export function trustedLabRoot(root = LAB_ROOT): string {
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const stat = lstatSync(root);
  if (!stat.isDirectory()) throw new Error(`lab root ${root} is not a directory (a link or a file): remove it`);
  if (stat.uid !== 0) throw new Error(`lab root ${root} belongs to uid ${stat.uid}, not root: remove it`);
  if ((stat.mode & 0o022) !== 0) throw new Error(`lab root ${root} is writable by others (mode ${(stat.mode & 0o777).toString(8)}): remove it`);
  return root;
}

export function stateFile(dir: string): string {
  return join(dir, 'state.json');
}

/** Atomic write, so a concurrent cleanup never reads half a state file. */
export function writeState(file: string, description: LabDescription): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(description, null, 2) + '\n');
  renameSync(tmp, file);
}

export function readState(file: string): LabDescription {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read lab state ${file}: ${(err as Error).message}`);
  }
  const d = parsed as Partial<LabDescription>;
  if (typeof d.id !== 'string' || typeof d.dir !== 'string' || typeof d.ownerPid !== 'number' || !d.namespaces || !Array.isArray(d.processes)) {
    throw new Error(`lab state ${file} lacks id, dir, ownerPid, namespaces or processes`);
  }
  return d as LabDescription;
}
