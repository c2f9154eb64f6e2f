// The per-client accounting's cost at 256 and 4096 mapped clients (issue 16), on the agent's own
// code path: the real Shaper builds table inet pgw_quota (every client in the three counter sets,
// one in eight with a quota) in a network namespace created here, then each sample is one
// `nft -j list table` (Shaper.sample) and the contract's sample built from it (buildUsageSample);
// its JSON size is the Redis write per node and interval. No traffic: listing cost does not depend
// on the counts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort, type PolicyClient } from '@pgw/domain';
import { CLIENT_USAGE_INTERVAL_MS, clientUsageSampleSchema } from '@pgw/events';
import { buildUsageSample } from '../../services/agent/src/accounting/accounting-sample.js';
import { Shaper } from '../../services/agent/src/shaping/shaper.js';
import { shaperBinsIn } from '../support/namespace-bins.js';

export interface AccountingCost {
  readonly clients: number;
  /** One sample: the nft listing and its parse (Shaper.sample), median and worst of the rounds. */
  readonly sampleMsMedian: number;
  readonly sampleMsMax: number;
  /** Building the contract's sample and its JSON. */
  readonly buildMs: number;
  /** The HSET value: bytes per node per interval, and the resulting write rate. */
  readonly sampleBytes: number;
  readonly writeBytesPerS: number;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;

function policyOf(count: number): GatewayPolicy {
  const clients: PolicyClient[] = [];
  for (let i = 0; i < count; i++) {
    const ip = parseIpv4(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const quota = i % 8 === 0 ? { rateDownKbit: null, rateUpKbit: null, quotaBytes: 10_000_000_000, quotaEpoch: 0 } : undefined;
    clients.push({ mappingId: i + 1, proxyId: 1, ip, port: parsePort(20000 + (i % 40000)), blocked: null, ...(quota ? { shaping: quota } : {}) });
  }
  return { lan: { interface: parseInterfaceName('lan0'), cidr: parseIpv4Cidr('10.0.0.0/8') }, wan: { interface: parseInterfaceName('wan0') }, dnsMode: 'drop', clients, strictOutput: null };
}

export async function measureAccountingCost(counts: readonly number[] = [256, 4096], rounds = 10): Promise<AccountingCost[]> {
  const ns = `pgw-bench-acct-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'pgw-bench-acct-'));
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const bins = shaperBinsIn(ns, dir);
    const results: AccountingCost[] = [];
    for (const count of counts) {
      const errors: Error[] = [];
      const shaper = new Shaper({ bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => Date.now() });
      const policy = policyOf(count);
      await shaper.sync(policy, { period: 'monthly', timeZone: 'UTC' });
      if (errors.length > 0) throw errors[0]!;
      const applied = shaper.applied!;
      const times: number[] = [];
      let build = 0;
      let bytes = 0;
      for (let r = 0; r < rounds; r++) {
        const { reading, ms } = await shaper.sample();
        times.push(ms);
        const started = performance.now();
        const json = JSON.stringify(buildUsageSample({ node: 'bench', policy: applied.policy, window: applied.window, reading, sampledAt: new Date(), sampleMs: ms }));
        build = performance.now() - started;
        bytes = Buffer.byteLength(json);
        if (r === 0 && Object.keys(clientUsageSampleSchema.parse(JSON.parse(json)).clients).length !== count) throw new Error(`the sample of ${count} clients does not hold them all`);
      }
      results.push({ clients: count, sampleMsMedian: round(median(times)), sampleMsMax: round(Math.max(...times)), buildMs: round(build), sampleBytes: bytes, writeBytesPerS: Math.round(bytes / (CLIENT_USAGE_INTERVAL_MS / 1000)) });
      execFileSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', 'pgw_quota']);
    }
    return results;
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
    rmSync(dir, { recursive: true, force: true });
  }
}
