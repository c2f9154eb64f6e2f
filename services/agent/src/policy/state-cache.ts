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

  /** Whether the file was written (false: it already held this policy). */
  async save(state: StateFile): Promise<boolean> {
    const text = encodeStateFile(state);
    if (text === this.lastWritten) return false;
    await writeFileAtomic(this.dir, FILE, text);
    this.lastWritten = text;
    return true;
  }
}
