import { execa } from 'execa';
import { TABLE_FAMILY, TABLE_NAME } from './render-ruleset.js';
import { parseTableListing, type TableListing } from './verify-table.js';

const TIMEOUT_MS = 10_000;

export interface Nft {
  apply(script: string): Promise<void>;
  listTable(terse: boolean): Promise<TableListing | null>;
}

/** The agent's only way to touch nftables: `nft -f -` transactions and `nft -j list table inet pgw`. */
export function createNft(bin: string): Nft {
  return {
    async apply(script) {
      const result = await execa(bin, ['-f', '-'], { input: script, reject: false, timeout: TIMEOUT_MS });
      if (result.exitCode !== 0) throw new Error(`nft -f failed (exit ${result.exitCode ?? result.signal}): ${firstLines(result.stderr || result.stdout)}`);
    },
    async listTable(terse) {
      const args = [...(terse ? ['-t'] : []), '-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME];
      const result = await execa(bin, args, { reject: false, timeout: TIMEOUT_MS });
      if (result.exitCode === 0) return parseTableListing(result.stdout);
      if (/No such file or directory/.test(result.stderr)) return null;
      throw new Error(`nft list table failed (exit ${result.exitCode ?? result.signal}): ${firstLines(result.stderr)}`);
    },
  };
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 6).join(' | ').slice(0, 1000);
}
