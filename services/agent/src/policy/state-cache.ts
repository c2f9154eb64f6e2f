import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '@pgw/runtime';
import { decodeStateFile, encodeStateFile, type StateFile } from './policy-codec.js';

const FILE = 'policy.json';

/**
 * The last applied policy (and its quota period) on disk, so that after a reboot the agent enforces it before
 * Postgres or Redis answer. Written atomically: a crash leaves the old file or the new one.
 */
export class StateCache {
  private lastWritten = '';

  constructor(private readonly dir: string) {}

  /** null when there is no state file yet; throws when it exists but is invalid. */
  async load(): Promise<StateFile | null> {
    const text = await readFileIfExists(this.dir, FILE);
    if (text === null) return null;
    const state = decodeStateFile(text);
    this.lastWritten = text;
    return state;
  }

  /**
   * Whether the file was written (false: it already held this policy). A policy that cannot be
   * written takes the older file away: the next start would enforce it, before Postgres answers,
   * over the newer one in force (a client unmapped or blocked since back on its proxy). Without a
   * file the guard holds every client until the desired state is read: closed, not stale.
   */
  async save(state: StateFile): Promise<boolean> {
    const text = encodeStateFile(state);
    if (text === this.lastWritten) return false;
    try {
      await writeFileAtomic(this.dir, FILE, text);
    } catch (error) {
      this.lastWritten = '';
      const removed = await rm(join(this.dir, FILE), { force: true }).then(
        () => 'the older file was removed: a restart enforces nothing from it',
        (removeError: Error) => `the older file could not be removed either (${removeError.message}): a restart would enforce it`,
      );
      throw new Error(`${(error as Error).message}; ${removed}`);
    }
    this.lastWritten = text;
    return true;
  }
}
