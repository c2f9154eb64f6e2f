// Helpers of the shaping e2e and bench:shaping: seeding a mapping's limits as the api will (an
// UPDATE and a mapping.changed notice), iperf3 through a client, and the kernel's quota count.
import { sql } from 'kysely';
import type { Dataplane } from './dataplane-harness.js';

export const IPERF_SECONDS = 4;

export interface ShapingColumns {
  rateDownKbit?: number | null;
  rateUpKbit?: number | null;
  quotaBytes?: number | null;
  quotaEpoch?: number;
}

export async function setShaping(dp: Dataplane, mappingId: number, columns: ShapingColumns, publish: boolean): Promise<void> {
  // Not in the shared kysely schema yet (the api's part comes later): by column name.
  const column = { rateDownKbit: 'rate_down_kbit', rateUpKbit: 'rate_up_kbit', quotaBytes: 'quota_bytes', quotaEpoch: 'quota_epoch' } as const;
  const sets = Object.entries(columns).map(([key, value]) => sql`${sql.ref(column[key as keyof ShapingColumns])} = ${value}`);
  await sql`UPDATE mappings SET ${sql.join(sets)} WHERE id = ${mappingId}`.execute(dp.tdb.db);
  if (publish) await dp.gateway.publish({ type: 'mapping.changed', mappingId, action: 'updated' });
}

/**
 * iperf3 from a LAN client through its proxy: `down` (-R, the internet host sends) or `up`; the
 * receiver's rate in Mbit/s over the run, the first second left out (-O 1: the bucket's burst).
 */
export async function measureRate(dp: Dataplane, client: string, direction: 'down' | 'up', seconds = IPERF_SECONDS): Promise<number> {
  const { ip, iperfPort } = dp.lab.description.internet;
  const argv = ['iperf3', '-c', ip, '-p', String(iperfPort), '-B', client, '-t', String(seconds), '-O', '1', '-J', ...(direction === 'down' ? ['-R'] : [])];
  // The one iperf3 server ends a test only once its last bytes are through: a shaped run's queue
  // (HTB, the relay's socket buffers) drains for a while after the client's -t. Tried again while busy.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const result = await dp.lab.exec(dp.lab.ns.lan, argv, { timeoutMs: (seconds + 20) * 1000, reject: false });
    const report = JSON.parse(result.stdout || '{}') as { error?: string; end?: { sum_received?: { bits_per_second: number } } };
    const bps = report.end?.sum_received?.bits_per_second;
    if (bps !== undefined) return bps / 1e6;
    if (!/server is busy/.test(report.error ?? '') || Date.now() > deadline) throw new Error(`iperf3 ${direction} from ${client} failed: ${report.error ?? result.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Until the lab's one iperf3 server takes a new test (bounded): see measureRate. */
export async function iperfIdle(dp: Dataplane, client: string): Promise<void> {
  await measureRate(dp, client, 'up', 1);
}

/** Bytes the kernel counted on a mapping's quota object of this epoch; null when there is none. */
export async function quotaUsed(dp: Dataplane, mappingId: number, epoch: number): Promise<number | null> {
  const r = await dp.nft('-j', 'list', 'quota', 'inet', 'pgw_quota', `q${mappingId}_${epoch}`);
  if (r.exitCode !== 0) return null;
  const item = (JSON.parse(r.stdout).nftables as { quota?: { used: number } }[]).find((i) => i.quota);
  return item?.quota?.used ?? null;
}

const GSO_MAX_BYTES = 65_536;

export interface QuotaCrossing {
  /** Epoch ms at which the client's bytes both ways (IP lengths, as the kernel counts) reached the quota. */
  readonly crossedAt: number;
  /** Epoch ms of the last packet the gateway sent the client; at or before crossedAt when the block held. */
  readonly lastToClientAt: number;
  /** Packets the gateway sent the client after the crossing. */
  readonly toClientAfter: number;
}

/**
 * Where a client crossed its quota, from a capture on the gateway's LAN interface (tcpdump -tt -v:
 * epoch times and IP total lengths): the kernel counts ingress before its drop (every packet the
 * client sends is on this capture) and egress before it too, but a dropped egress packet is not on
 * the capture: the packet that crosses the limit (up to one 64 KiB GSO packet) is counted and
 * dropped. So the crossing is placed where the capture comes within one such packet of the quota.
 */
export async function quotaCrossing(dp: Dataplane, pcap: string, client: string, quotaBytes: number): Promise<QuotaCrossing> {
  const decoded = await dp.lab.exec(dp.gw, ['tcpdump', '-n', '-tt', '-v', '-r', pcap, 'host', client], { reject: false });
  const lines = decoded.stdout.split('\n');
  let total = 0;
  let crossedAt: number | null = null;
  let lastToClientAt = 0;
  let toClientAfter = 0;
  for (let i = 0; i < lines.length; i++) {
    // -v prints each IP packet as `<time> IP (... length N)` and its addresses on the next line.
    const head = /^(\d+\.\d+) IP \(.*\blength (\d+)\)/.exec(lines[i]!);
    if (!head) continue;
    const at = Number(head[1]) * 1000;
    const toClient = new RegExp(` > ${client.replace(/\./g, '\\.')}\\.\\d+:`).test(lines[i + 1] ?? '');
    if (crossedAt !== null && toClient) {
      toClientAfter++;
      lastToClientAt = at;
    }
    if (toClient && crossedAt === null) lastToClientAt = at;
    total += Number(head[2]);
    if (crossedAt === null && total >= quotaBytes - GSO_MAX_BYTES) crossedAt = at;
  }
  if (crossedAt === null) throw new Error(`capture of ${client} counted ${total} bytes, short of ${quotaBytes}: ${decoded.stderr.trim()} ${lines.slice(0, 4).join(' | ')}`);
  return { crossedAt, lastToClientAt, toClientAfter };
}
