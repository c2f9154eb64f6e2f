import { execa } from 'execa';
import { NftSession } from './nft-session.js';
import { TABLE_FAMILY, TABLE_NAME } from './render-ruleset.js';
import { type RefusalReading, setPacketCounts, tableHandle } from '../accounting/client-refusal-reading.js';
import { readInetChainNames } from '../netlink/kernel-tables.js';
import { parseTableListing, type TableListing } from './verify-table.js';

const TIMEOUT_MS = 10_000;

export interface Nft {
  /** A whole ruleset (`nft -f -`, its own process). */
  apply(script: string): Promise<void>;
  /** Element commands only, one transaction, through the long-running `nft -i` (nft-session.ts). */
  applyDelta(lines: string): Promise<void>;
  /** Starts the delta session's nft ahead of the first change. */
  warm(): void;
  close(): void;
  listTable(): Promise<TableListing | null>;
  listChains(): Promise<string[]>;
  /**
   * The limits' refusals by client (their sets: flow 23's, flow 25's), each with the table instance
   * it counts in, in one reading (the table's handle read once before and once after the sets);
   * null without the table, a set absent without its limit.
   */
  readRefusals(sets: readonly string[]): Promise<ReadonlyMap<string, RefusalReading> | null>;
}

/**
 * The agent's only way to touch nftables: `nft -f -` transactions, deltas through one `nft -i`,
 * `nft -j list table inet pgw` (and of the limits' refusal sets), and its chain names over netlink.
 * onSpawn gets the pid of the nft writing each transaction, so the self-heal knows it as the agent's own.
 */
export function createNft(bin: string, onSpawn: (pid: number) => void = () => undefined): Nft {
  const session = new NftSession(bin, onSpawn);
  return {
    applyDelta: (lines) => session.run(lines),
    warm: () => session.warm(),
    close: () => session.close(),
    async apply(script) {
      const child = execa(bin, ['-f', '-'], { input: script, reject: false, timeout: TIMEOUT_MS });
      if (child.pid !== undefined) onSpawn(child.pid);
      const result = await child;
      if (result.exitCode !== 0) throw new Error(`nft -f failed (exit ${result.exitCode ?? result.signal}): ${firstLines(result.stderr || result.stdout)}`);
    },
    async listTable() {
      const result = await execa(bin, ['-j', 'list', 'table', TABLE_FAMILY, TABLE_NAME], { reject: false, timeout: TIMEOUT_MS });
      if (result.exitCode === 0) return parseTableListing(result.stdout);
      if (/No such file or directory/.test(result.stderr)) return null;
      throw new Error(`nft list table failed (exit ${result.exitCode ?? result.signal}): ${firstLines(result.stderr)}`);
    },
    // Cheap (no set elements, no process): well under a ms where the full listing of 4096 mappings takes ~80.
    listChains: () => readInetChainNames(TABLE_NAME),
    async readRefusals(sets) {
      const handle = async () => {
        const tables = await execa(bin, ['-j', 'list', 'tables', TABLE_FAMILY], { reject: false, timeout: TIMEOUT_MS });
        if (tables.exitCode !== 0) throw new Error(`nft list tables failed (exit ${tables.exitCode ?? tables.signal}): ${firstLines(tables.stderr)}`);
        return tableHandle(tables.stdout, TABLE_FAMILY, TABLE_NAME);
      };
      const table = await handle();
      if (table === null) return null;
      const readings = new Map<string, RefusalReading>();
      for (const set of sets) {
        const listing = await execa(bin, ['-j', 'list', 'set', TABLE_FAMILY, TABLE_NAME, set], { reject: false, timeout: TIMEOUT_MS });
        if (listing.exitCode === 0) readings.set(set, { table, counts: setPacketCounts(listing.stdout) });
        else if (!/No such file or directory/.test(listing.stderr)) throw new Error(`nft list set ${set} failed (exit ${listing.exitCode ?? listing.signal}): ${firstLines(listing.stderr)}`);
      }
      // The table re-created between the listings: these counts may be the new instance's under
      // the old handle (then counted again at the next reading). Nothing this time.
      if ((await handle()) !== table) return null;
      return readings;
    },
  };
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 6).join(' | ').slice(0, 1000);
}
