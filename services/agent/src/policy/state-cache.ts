import { readFileIfExists, writeFileAtomic } from '@pgw/runtime';
import type { GatewayPolicy } from '@pgw/domain';
import { decodePolicy, encodePolicy } from './policy-codec.js';

const FILE = 'policy.json';

/**
 * The last applied policy on disk, so that after a reboot the agent enforces it before
 * Postgres or Redis answer. Written atomically: a crash leaves the old file or the new one.
 */
export class StateCache {
  private lastWritten = '';

  constructor(private readonly dir: string) {}

  /** null when there is no state file yet; throws when it exists but is invalid. */
  async load(): Promise<GatewayPolicy | null> {
    const text = await readFileIfExists(this.dir, FILE);
    if (text === null) return null;
    const policy = decodePolicy(text);
    this.lastWritten = text;
    return policy;
  }

  /** Whether the file was written (false: it already held this policy). */
  async save(policy: GatewayPolicy): Promise<boolean> {
    const text = encodePolicy(policy);
    if (text === this.lastWritten) return false;
    await writeFileAtomic(this.dir, FILE, text);
    this.lastWritten = text;
    return true;
  }
}
