// Helpers of the shaping e2e and bench:shaping: seeding a mapping's limits as the api will (an
// UPDATE and a mapping.changed notice), iperf3 through a client, and the kernel's quota count.
import { execFileSync } from 'node:child_process';
import { CLIENT_USAGE_KEY, type ClientUsageSample, type connectRedis, parseClientUsageHash } from '@pgw/events';
import { sql } from 'kysely';
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';

export const IPERF_SECONDS = 4;

type Redis = ReturnType<typeof connectRedis>;

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
 * A lab of one client on dante with a byte quota and nothing else (the guard loaded, no service
 * started yet): the quota tests' common start.
 */
export async function oneQuotaClient(client: string, quotaBytes: number): Promise<{ dp: Dataplane; mappingId: number }> {
  execFileSync('npx', ['tsc', '-b', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
  const dp = await createDataplane({ clients: 1, proxies: ['socks5'] });
  await dp.loadGuard();
  const proxy = await dp.addProxy(0, 'up');
  const mappingId = await dp.addMapping(client, proxy, 20010);
  await setShaping(dp, mappingId, { quotaBytes }, false);
  return { dp, mappingId };
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
    // A busy server refuses with a denial and a close; when the close catches the client's cookie
    // unread, the client sees the reset before the denial ("unable to receive control message"),
    // and when the denial byte is lost with it, only the end ("control socket has closed unexpectedly").
    if (!/server is busy|unable to receive control message: Connection reset by peer|control socket has closed unexpectedly/.test(report.error ?? '') || Date.now() > deadline) {
      throw new Error(`iperf3 ${direction} from ${client} failed: ${report.error ?? result.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Until the lab's one iperf3 server takes a new test (bounded): see measureRate. */
export async function iperfIdle(dp: Dataplane, client: string): Promise<void> {
  await measureRate(dp, client, 'up', 1);
}

/** Bytes the kernel counted on a mapping's quota object of this epoch (any period); null when there is none. */
export async function quotaUsed(dp: Dataplane, mappingId: number, epoch: number): Promise<number | null> {
  const r = await dp.nft('-j', 'list', 'quotas', 'table', 'inet', 'pgw_quota');
  if (r.exitCode !== 0) return null;
  // q<mapping>_<epoch>_<period>; before quota periods the name had no period (kept so the test can run against that agent).
  const stem = `q${mappingId}_${epoch}`;
  const item = (JSON.parse(r.stdout).nftables as { quota?: { name: string; used: number } }[]).find((i) => i.quota && (i.quota.name === stem || i.quota.name.startsWith(`${stem}_`)));
  return item?.quota?.used ?? null;
}

/** The gateway's last usage sample (docs/contracts.md "Client usage"), read as the api reads it; null before the first. */
export async function usageSample(redis: Redis): Promise<ClientUsageSample | null> {
  return parseClientUsageHash(await redis.hgetall(CLIENT_USAGE_KEY))[0] ?? null;
}

/** The first sample taken after `after` (ms since the epoch), bounded. */
export async function usageSampleAfter(dp: Dataplane, redis: Redis, after: number, timeoutMs = 5_000): Promise<ClientUsageSample> {
  let sample: ClientUsageSample | null = null;
  await dp.waitFor('a usage sample', async () => {
    sample = await usageSample(redis);
    return sample !== null && sample.sampledAt.getTime() > after;
  }, timeoutMs);
  return sample!;
}

/**
 * The first sample after `after` in which the client's count no longer grows (two samples in a row
 * agree): an upload's last bytes may still sit in the client's send buffer when iperf3 reports, and
 * cross the gateway only after. Bounded by timeoutMs.
 */
export async function settledUsageSample(dp: Dataplane, redis: Redis, after: number, client: string, key: 'bytesUp' | 'bytesDown', timeoutMs = 10_000): Promise<ClientUsageSample> {
  const deadline = Date.now() + timeoutMs;
  let previous = await usageSampleAfter(dp, redis, after);
  for (;;) {
    const next = await usageSampleAfter(dp, redis, previous.sampledAt.getTime());
    if (next.clients[client]?.[key] === previous.clients[client]?.[key] || Date.now() > deadline) return next;
    previous = next;
  }
}

/**
 * iperf3 from a LAN client with a byte count (-n): `bytes`, what iperf3 counted at the client (its
 * payload: received for a download, written to its socket for an upload), and what the other end
 * counted (`far`: the server's sent bytes for a download, received for an upload). The gateway sits
 * between the two: an upload's bytes still in the client's send buffer when the server ends the
 * test are written (counted by iperf3 at the client) but never cross the gateway, and a download's
 * last bytes may have crossed it without reaching the client's count.
 */
export async function iperfBytes(dp: Dataplane, client: string, direction: 'down' | 'up', bytes: number): Promise<{ bytes: number; far: number; endedAt: number }> {
  const { ip, iperfPort } = dp.lab.description.internet;
  const argv = ['iperf3', '-c', ip, '-p', String(iperfPort), '-B', client, '-n', String(bytes), '-J', ...(direction === 'down' ? ['-R'] : [])];
  const result = await dp.lab.exec(dp.lab.ns.lan, argv, { timeoutMs: 30_000, reject: false });
  const report = JSON.parse(result.stdout || '{}') as { error?: string; end?: { sum_received?: { bytes: number }; sum_sent?: { bytes: number } } };
  const received = report.end?.sum_received?.bytes;
  const sent = report.end?.sum_sent?.bytes;
  if (received === undefined || sent === undefined) throw new Error(`iperf3 ${direction} from ${client} failed: ${report.error ?? result.stderr}`);
  return direction === 'down' ? { bytes: received, far: sent, endedAt: Date.now() } : { bytes: sent, far: received, endedAt: Date.now() };
}

export interface QuotaCrossing {
  /** Start of the last read of the kernel's count that was still under the quota: the crossing came after it. */
  readonly lastBelowAt: number;
  /** End of the first read at or over the quota: the crossing came before it. */
  readonly seenAt: number;
}

/**
 * Reads a quota object's count in a tight loop (bounded) until it reaches the limit: the crossing
 * lies between the two reads returned, a window of one `nft` call (~10-30 ms).
 */
export async function waitQuotaCrossed(dp: Dataplane, mappingId: number, epoch: number, quotaBytes: number, timeoutMs = 10_000): Promise<QuotaCrossing> {
  const deadline = Date.now() + timeoutMs;
  let lastBelowAt = Date.now();
  while (Date.now() < deadline) {
    const startedAt = Date.now();
    // The kernel drops from the packet that makes its count reach the limit, and lists used capped there.
    const used = await quotaUsed(dp, mappingId, epoch);
    if (used !== null && used >= quotaBytes) return { lastBelowAt, seenAt: Date.now() };
    lastBelowAt = startedAt;
  }
  throw new Error(`quota of mapping ${mappingId} not reached within ${timeoutMs} ms`);
}

/**
 * From a capture on the gateway's LAN interface (tcpdump -tt: epoch times): when the gateway last
 * sent the client a packet, and how many it sent after `after` (egress is captured after nft's
 * postrouting: a packet dropped for the client is not on it).
 */
export async function packetsToClient(dp: Dataplane, pcap: string, client: string, after: number): Promise<{ lastAt: number; countAfter: number }> {
  const decoded = await dp.lab.exec(dp.gw, ['tcpdump', '-n', '-tt', '-r', pcap, 'dst', 'host', client], { reject: false });
  let lastAt = 0;
  let countAfter = 0;
  for (const line of decoded.stdout.split('\n')) {
    const match = /^(\d+\.\d+) IP /.exec(line);
    if (!match) continue;
    lastAt = Number(match[1]) * 1000;
    if (lastAt > after) countAfter++;
  }
  if (lastAt === 0) throw new Error(`no packet to ${client} on the capture: ${decoded.stderr.trim()}`);
  return { lastAt, countAfter };
}

/** One accounting set's counter of a client in table inet pgw_acct as the kernel lists it; null when absent. */
export async function kernelCounter(dp: Dataplane, set: 'acct_up' | 'acct_down' | 'acct_new', client: string): Promise<{ packets: number; bytes: number } | null> {
  const r = await dp.nft('-j', 'list', 'set', 'inet', 'pgw_acct', set);
  if (r.exitCode !== 0) return null;
  const item = (JSON.parse(r.stdout).nftables as { set?: { elem?: { elem?: { val: string; counter: { packets: number; bytes: number } } }[] } }[]).find((i) => i.set);
  return item?.set?.elem?.find((e) => e.elem?.val === client)?.elem?.counter ?? null;
}
