import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ShaperBins } from '../../services/agent/src/shaping/shaper.js';

/**
 * The agent's Shaper runs nft, tc and ip by path: wrappers in `dir` that run them inside network
 * namespace `ns`, for tests and benchmarks that drive a Shaper against a namespace of their own.
 */
export function shaperBinsIn(ns: string, dir: string): ShaperBins {
  const wrap = (name: string) => {
    const file = join(dir, name);
    writeFileSync(file, `#!/bin/sh\nexec ip netns exec ${ns} /usr/sbin/${name} "$@"\n`);
    chmodSync(file, 0o755);
    return file;
  };
  return { nft: wrap('nft'), tc: wrap('tc'), ip: wrap('ip') };
}

/**
 * A network namespace and a temporary directory of a test's own, for a Shaper against real nft, tc
 * and ip there (shaperBinsIn); destroy() removes both.
 */
export class ShaperSandbox {
  readonly ns: string;
  readonly dir: string;
  readonly bins: ShaperBins;

  constructor(name: string) {
    this.ns = `pgw-${name}-${process.pid}`;
    this.dir = mkdtempSync(join(tmpdir(), `pgw-${name}-`));
    execFileSync('ip', ['netns', 'add', this.ns]);
    this.bins = shaperBinsIn(this.ns, this.dir);
  }

  /** A command inside the namespace, its stdout (throws on failure). */
  exec(argv: readonly string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.ns, ...argv], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  nft(...args: string[]): string {
    return this.exec(['nft', ...args]);
  }

  /**
   * An nft of the namespace that runs `shell` (sh, "$1" the first argument) before nft itself: a
   * test's way to hold or refuse the Shaper's writes.
   */
  nftWrapped(name: string, shell: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, `#!/bin/sh\n${shell}\nexec ${this.bins.nft} "$@"\n`);
    chmodSync(file, 0o755);
    return file;
  }

  destroy(): void {
    execFileSync('ip', ['netns', 'del', this.ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
