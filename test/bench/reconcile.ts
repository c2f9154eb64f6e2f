// Agent reconcile benchmark: full and one-change apply times for 256 and 4096 mappings against the
// real nft in a lab gateway namespace, the real agent's notice-to-applied time for one change at
// 4096 mappings, and its idle CPU and RSS. Prints a table and ends with one JSON line.
//   node --conditions=pgw-source --import tsx test/bench/reconcile.ts
import { readFileSync } from 'node:fs';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort, type PolicyClient } from '@pgw/domain';
import { renderDelta } from '../../services/agent/src/render-delta.js';
import { renderRuleset } from '../../services/agent/src/render-ruleset.js';
import { parseTableListing, verifyTable } from '../../services/agent/src/verify-table.js';
import { createDataplane, type Dataplane } from '../e2e/dataplane-harness.js';
import { execIn } from '../lab/index.js';

const SIZES = [256, 4096] as const;
const REPEATS = 5;
const IDLE_WINDOW_MS = 10_000;

const clientIp = (i: number) => `10.0.${(i >> 8) & 255}.${i & 255}`;

function policyOf(count: number, blockedIndex = -1): GatewayPolicy {
  const clients: PolicyClient[] = Array.from({ length: count }, (_, i) => ({
    mappingId: i + 1,
    proxyId: 1,
    ip: parseIpv4(clientIp(i + 1)),
    port: parsePort(20000 + i),
    blocked: i === blockedIndex ? 'proxy_down' : null,
  }));
  return {
    lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('10.0.0.0/16') },
    wan: { interface: parseInterfaceName('eth0') },
    dnsMode: 'drop',
    clients,
    strictOutput: null,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[Math.floor(sorted.length / 2)]! * 10) / 10;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

/** Render + `nft -f -` (+ read-back and verify) times in the gateway namespace, as the agent does them. */
async function applyTimes(dp: Dataplane, count: number) {
  const nftIn = async (script: string) => {
    const r = await dp.lab.exec(dp.gw, ['nft', '-f', '-'], { input: script, reject: false });
    if (r.exitCode !== 0) throw new Error(`nft -f failed: ${r.stderr}`);
  };
  const base = renderRuleset(policyOf(count));
  const full: number[] = [];
  const delta: number[] = [];
  const verify: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    full.push(await timed(() => nftIn(renderRuleset(policyOf(count)).script)));
    const changed = renderRuleset(policyOf(count, i));
    delta.push(await timed(() => nftIn(renderDelta(base, changed)!)));
    verify.push(
      await timed(async () => {
        const listing = parseTableListing((await dp.nft('-j', 'list', 'table', 'inet', 'pgw')).stdout);
        const problems = verifyTable(changed, listing);
        if (problems.length > 0) throw new Error(problems.join('; '));
      }),
    );
    await nftIn(renderDelta(changed, base)!);
  }
  const renderMs = await timed(async () => renderRuleset(policyOf(count)));
  return { count, renderMs: Math.round(renderMs * 10) / 10, fullApplyMs: median(full), oneChangeApplyMs: median(delta), verifyMs: median(verify) };
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Math.round(Number(line.replace(/\D+/g, '')) / 102.4) / 10;
}

async function main(): Promise<void> {
  const dp = await createDataplane({ clients: 1, proxies: ['socks5'] });
  try {
    const results = [];
    for (const count of SIZES) results.push(await applyTimes(dp, count));
    await dp.nft('delete', 'table', 'inet', 'pgw');

    // The real agent with 4096 mappings: one proxy per 16 clients, so one notice blocks 16.
    await dp.tdb.db.updateTable('settings').set({ lanCidr: '10.0.0.0/16', forwarderPortMin: 20000, forwarderPortMax: 29999 }).where('id', '=', 1).execute();
    const proxyIds: number[] = [];
    for (let p = 0; p < 4096 / 16; p++) proxyIds.push(await dp.addProxy(0, 'up'));
    const rows = Array.from({ length: 4096 }, (_, i) => ({ clientIp: clientIp(i + 1), proxyId: proxyIds[i >> 4]!, listenPort: 20000 + i, enabled: true, description: '' }));
    for (let i = 0; i < rows.length; i += 1000) await dp.tdb.db.insertInto('mappings').values(rows.slice(i, i + 1000)).execute();
    const startAt = performance.now();
    await dp.startAgent();
    await dp.waitFor('4096 mappings applied', async () => (await dp.setElements('lan_mapped'))?.length === 4096, 60_000);
    const startToAppliedMs = Math.round(performance.now() - startAt);

    const noticeToApplied: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const proxyId = proxyIds[i]!;
      const blockedIp = clientIp(i * 16 + 1);
      const started = performance.now();
      await dp.setProxyStatus(proxyId, 'down');
      await dp.waitFor('16 clients blocked', async () => (await dp.setElements('lan_blocked'))?.includes(blockedIp) ?? false, 5_000);
      noticeToApplied.push(performance.now() - started);
      await dp.setProxyStatus(proxyId, 'up');
      await dp.waitFor('unblocked', async () => !((await dp.setElements('lan_blocked'))?.includes(blockedIp) ?? true), 5_000);
    }
    const status = JSON.parse((await execIn(undefined, ['redis-cli', '-s', dp.lab.redis.socketPath, 'GET', 'pgw:agent:status'])).stdout) as { durationMs: number };

    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const pid = dp.agent!.pid;
    const ticksBefore = cpuTicks(pid);
    await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
    const idleCpuPercent = Math.round(((cpuTicks(pid) - ticksBefore) / 100 / (IDLE_WINDOW_MS / 1000)) * 1000) / 10;
    const agentRssMb = rssMb(pid);

    console.log('mappings | render | full apply (nft -f) | one-change apply (delta) | read-back+verify');
    for (const r of results) console.log(`${String(r.count).padStart(8)} | ${r.renderMs} ms | ${r.fullApplyMs} ms | ${r.oneChangeApplyMs} ms | ${r.verifyMs} ms`);
    console.log(`real agent, 4096 mappings: start -> all applied ${startToAppliedMs} ms; proxy.status notice -> 16 clients blocked (median of ${REPEATS}) ${median(noticeToApplied)} ms; last reported reconcile ${status.durationMs} ms`);
    console.log(`real agent idle (resync every 1 s, 4096 mappings): CPU ${idleCpuPercent} % of one core over ${IDLE_WINDOW_MS / 1000} s, RSS ${agentRssMb} MB`);
    console.log(
      JSON.stringify({
        bench: 'agent-reconcile',
        apply: results,
        agent4096: { startToAppliedMs, noticeToBlockedMs: median(noticeToApplied), lastReconcileMs: status.durationMs, idleCpuPercent, rssMb: agentRssMb },
      }),
    );
  } finally {
    await dp.destroy();
  }
}

await main();
