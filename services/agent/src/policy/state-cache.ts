import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '@pgw/runtime';
import { decodeStateFile, encodeStateFile, type StateFile } from './policy-codec.js';

const FILE = 'policy.json';
/** The last file, set aside when a newer policy could not be written over it (save()). */
const UNWRITTEN = 'policy.json.unwritten';

/**
 * The last applied policy (and its quota period) on disk, so that after a reboot the agent enforces it before
 * Postgres or Redis answer. Written atomically: a crash leaves the old file or the new one.
 */
export class StateCache {
  private lastWritten = '';

  constructor(private readonly dir: string) {}

  /**
   * The quota blocks of a file set aside by save(), null when there is none: a client over its quota
   * stays held after a reboot until the stored counts are read, whatever else the file held.
   */
  async unwrittenQuota(): Promise<Pick<StateFile, 'quota' | 'quotaPeriodKey' | 'quotaOver'> | null> {
    const text = await readFileIfExists(this.dir, UNWRITTEN);
    if (text === null) return null;
    const { quota, quotaPeriodKey, quotaOver } = decodeStateFile(text);
    return { quota, ...(quotaPeriodKey !== undefined ? { quotaPeriodKey } : {}), ...(quotaOver !== undefined ? { quotaOver } : {}) };
  }

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
   * written sets the older file aside (a rename needs no free space): the next start would enforce
   * it, before Postgres answers, over the newer one in force (a client unmapped or blocked since
   * back on its proxy). Without a file the guard holds every client until the desired state is
   * read: closed, not stale. Only its quota blocks are still read at boot (unwrittenQuota()).
   */
  async save(state: StateFile): Promise<boolean> {
    const text = encodeStateFile(state);
    if (text === this.lastWritten) return false;
    try {
      await writeFileAtomic(this.dir, FILE, text);
    } catch (error) {
      this.lastWritten = '';
      const setAside = await rename(join(this.dir, FILE), join(this.dir, UNWRITTEN)).then(
        () => 'the older file was set aside: a restart enforces nothing from it',
        (renameError: NodeJS.ErrnoException) =>
          renameError.code === 'ENOENT' ? 'there was no older file' : `the older file could not be set aside either (${renameError.message}): a restart would enforce it`,
      );
      throw new Error(`${(error as Error).message}; ${setAside}`);
    }
    await rm(join(this.dir, UNWRITTEN), { force: true });
    this.lastWritten = text;
    return true;
  }
}
