import { chmodSync, writeFileSync } from 'node:fs';
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
