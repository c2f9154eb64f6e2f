import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { LabDescription } from './types.js';

/** Every lab keeps its configs, logs, sockets and state.json in LAB_ROOT/<id>. */
export const LAB_ROOT = join(tmpdir(), 'pgw-lab');

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
