import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
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
    let text: string;
    try {
      text = await readFile(join(this.dir, FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
    const policy = decodePolicy(text);
    this.lastWritten = text;
    return policy;
  }

  async save(policy: GatewayPolicy): Promise<void> {
    const text = encodePolicy(policy);
    if (text === this.lastWritten) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const target = join(this.dir, FILE);
    const temp = `${target}.${process.pid}.tmp`;
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.lastWritten = text;
  }
}
