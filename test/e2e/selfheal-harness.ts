/**
 * Self-heal measurements (issue 11, point 2), shared by agent-selfheal.test.ts and
 * `npm run bench:selfheal`: a fault is one foreign nft command in the gateway namespace; its
 * restore time runs from the kernel commit of the fault to the kernel commit that brings the last
 * damaged table back, both seen by one `nft monitor` of the test's own (so the monitor's delay
 * cancels out). The tables' contents are then compared with what they were before the fault.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { NftMonitorParser, type NftTransaction, planHeal, type WatchedTable } from '../../services/agent/src/self-heal/nft-monitor-events.js';
import { DYNAMIC_SETS } from '../../services/agent/src/ruleset/render-ruleset.js';
import { execIn, nsArgv } from '../../lab/index.js';
import { Wakeups } from '../support/wakeups.js';
import type { Dataplane } from './dataplane-harness.js';

export interface SeenTransaction extends NftTransaction {
  /** performance.now() when its generation line was read. */
  readonly at: number;
}

/** Every nft transaction in a namespace, timestamped, through the agent's own parser. */
export class TransactionWatch {
  readonly seen: SeenTransaction[] = [];
  private readonly child: ChildProcess;
  private readonly wakeups = new Wakeups();

  private constructor(ns: string) {
    const argv = nsArgv(ns, ['nft', 'monitor']);
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    const parser = new NftMonitorParser();
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const transaction = parser.line(line);
      if (!transaction) return;
      this.seen.push({ ...transaction, at: performance.now() });
      this.wakeups.wake();
    });
  }

  /** Starts the monitor and resolves once it is subscribed (it has seen a marker transaction). */
  static async start(dp: Pick<Dataplane, 'gw' | 'lab'>): Promise<TransactionWatch> {
    const watch = new TransactionWatch(dp.gw);
    await watch.marker(dp);
    return watch;
  }

  private async marker(dp: Pick<Dataplane, 'gw' | 'lab'>): Promise<void> {
    const deadline = performance.now() + 5000;
    for (;;) {
      const mark = this.seen.length;
      await dp.lab.exec(dp.gw, ['nft', '-f', '-'], { input: 'add table inet pgw_agent_probe\ndelete table inet pgw_agent_probe\n' });
      const ok = await this.until((t) => t.probe, mark, 500);
      if (ok) return;
      if (performance.now() > deadline) throw new Error('the test’s nft monitor saw no marker transaction within 5 s');
    }
  }

  /** The first transaction from index `from` on that passes `test`, or null after timeoutMs. */
  async until(test: (t: SeenTransaction) => boolean, from: number, timeoutMs: number): Promise<SeenTransaction | null> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.seen.slice(from).find(test);
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0) return null;
      await this.wakeups.next(left);
    }
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}

/**
 * Both tables as `nft -j list table` shows them, handles removed, and a dynamic set's elements (the
 * packet path's own: flow 23's count per client, back with the client's next connection): equal
 * means restored exactly.
 */
export async function tablesSnapshot(dp: Dataplane): Promise<{ guard: string | null; pgw: string | null }> {
  const one = async (name: string) => {
    const r = await dp.nft('-j', 'list', 'table', 'inet', name);
    if (r.exitCode !== 0) return null;
    const listing = JSON.parse(r.stdout) as { nftables: Record<string, Record<string, unknown>>[] };
    const items = listing.nftables.map((item) => {
      const set = item.set;
      // By name: nft -j does not list a set's dynamic flag.
      if (set === undefined || !DYNAMIC_SETS.includes(String(set.name))) return item;
      const { elem: _elem, ...withoutElements } = set;
      return { set: withoutElements };
    });
    return JSON.stringify(items).replace(/"handle":\d+,?/g, '');
  };
  return { guard: await one('pgw_guard'), pgw: await one('pgw') };
}

export interface Fault {
  readonly name: string;
  /** The tables it damages, which must come back. */
  readonly damages: readonly WatchedTable[];
  /** The nft arguments of the foreign command (looked up just before, e.g. a rule handle). */
  argv(dp: Dataplane): Promise<string[]>;
}

/** The first rule handle of a chain of inet pgw. */
async function firstRuleHandle(dp: Dataplane, chain: string): Promise<string> {
  const listing = await dp.nft('-a', 'list', 'chain', 'inet', 'pgw', chain);
  const handle = /# handle (\d+)\n/.exec(listing.stdout.split('\n').slice(2).join('\n'))?.[1];
  if (!handle) throw new Error(`no rule handle in chain ${chain}: ${listing.stdout}${listing.stderr}`);
  return handle;
}

export function faults(effectiveClient: string, effectivePort: number, unmappedClient: string): Fault[] {
  return [
    { name: 'nft flush ruleset', damages: ['guard', 'pgw'], argv: async () => ['flush', 'ruleset'] },
    { name: 'nft delete table inet pgw_guard', damages: ['guard'], argv: async () => ['delete', 'table', 'inet', 'pgw_guard'] },
    { name: 'nft delete table inet pgw', damages: ['pgw'], argv: async () => ['delete', 'table', 'inet', 'pgw'] },
    { name: 'nft delete chain inet pgw forward', damages: ['pgw'], argv: async () => ['delete', 'chain', 'inet', 'pgw', 'forward'] },
    { name: 'nft flush chain inet pgw from_lan', damages: ['pgw'], argv: async () => ['flush', 'chain', 'inet', 'pgw', 'from_lan'] },
    { name: 'nft delete rule inet pgw forward handle <first>', damages: ['pgw'], argv: async (dp) => ['delete', 'rule', 'inet', 'pgw', 'forward', 'handle', await firstRuleHandle(dp, 'forward')] },
    { name: 'nft delete element inet pgw client_port', damages: ['pgw'], argv: async () => ['delete', 'element', 'inet', 'pgw', 'client_port', `{ ${effectiveClient} : ${effectivePort} }`] },
    { name: 'nft add element inet pgw lan_mapped (unmapped client)', damages: ['pgw'], argv: async () => ['add', 'element', 'inet', 'pgw', 'lan_mapped', `{ ${unmappedClient} }`] },
    { name: 'nft delete rule inet pgw_guard forward handle <first>', damages: ['guard'], argv: async (dp) => {
      const listing = await dp.nft('-a', 'list', 'chain', 'inet', 'pgw_guard', 'forward');
      const handle = /drop # handle (\d+)/.exec(listing.stdout)?.[1];
      if (!handle) throw new Error(`no rule handle in the guard: ${listing.stdout}${listing.stderr}`);
      return ['delete', 'rule', 'inet', 'pgw_guard', 'forward', 'handle', handle];
    } },
  ];
}

export interface Trial {
  /** Fault commit to the commit restoring the last damaged table; null: not restored within the wait. */
  readonly ms: number | null;
  /** Whether both tables were, afterwards, exactly what they were before. */
  readonly exact: boolean;
  readonly detail: string;
}

/**
 * Runs one fault and measures its restore. `before` is the snapshot to come back to. Waits up to
 * waitMs for the restoring transactions (then reports null: not restored).
 */
export async function runFault(dp: Dataplane, watch: TransactionWatch, fault: Fault, before: Awaited<ReturnType<typeof tablesSnapshot>>, waitMs = 3000): Promise<Trial> {
  const argv = await fault.argv(dp);
  const mark = watch.seen.length;
  const result = await dp.nft(...argv);
  if (result.exitCode !== 0) throw new Error(`${fault.name}: nft ${argv.join(' ')} failed: ${result.stderr}`);
  // The fault: the first transaction that damages a table (the test's nft is foreign to the agent).
  const damage = await watch.until((t) => t.pid !== null && fault.damages.some((table) => planHeal(t, 'foreign')[table] === 'restore'), mark, waitMs);
  if (!damage) throw new Error(`${fault.name}: the test’s monitor did not see the fault`);
  const from = watch.seen.indexOf(damage) + 1;
  let restoredAt = damage.at;
  for (const table of fault.damages) {
    const restore = await watch.until((t) => t.changes.get(table) === 'replaced', from, waitMs);
    if (!restore) return { ms: null, exact: false, detail: `${table} not restored within ${waitMs} ms` };
    restoredAt = Math.max(restoredAt, restore.at);
  }
  const ms = restoredAt - damage.at;
  // Let any queued verification settle before comparing contents.
  const after = await settle(dp, before);
  return { ms, exact: after.exact, detail: after.detail };
}

/** Polls (briefly) until both tables equal `before`; reports what differs otherwise. */
async function settle(dp: Dataplane, before: Awaited<ReturnType<typeof tablesSnapshot>>): Promise<{ exact: boolean; detail: string }> {
  const deadline = performance.now() + 2000;
  for (;;) {
    const now = await tablesSnapshot(dp);
    const same = now.guard === before.guard && now.pgw === before.pgw;
    if (same) return { exact: true, detail: '' };
    if (performance.now() > deadline) {
      const state = (a: string | null, b: string | null) => (a === b ? 'same' : a === null ? 'absent' : `differs (${firstDifference(b ?? '', a)})`);
      return { exact: false, detail: `guard ${state(now.guard, before.guard)}, pgw ${state(now.pgw, before.pgw)}` };
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Where two listings part: a little of each from the first character that differs. */
function firstDifference(before: string, after: string): string {
  let i = 0;
  while (i < before.length && before[i] === after[i]) i++;
  const from = Math.max(0, i - 60);
  return `before: …${before.slice(from, i + 100)}… after: …${after.slice(from, i + 100)}…`;
}

/** Nearest-rank percentile; null values (not restored) count as infinitely slow. */
export function percentile(values: readonly (number | null)[], p: number): number {
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The pid of the agent's own `nft monitor` child, if it runs one. */
export async function agentMonitorPid(dp: Dataplane): Promise<number | null> {
  // Only this lab's gateway: other labs on the machine run agents with monitors of their own.
  const ours = new Set((await execIn(undefined, ['ip', 'netns', 'pids', dp.lab.ns.gateway], { reject: false })).stdout.split('\n').map(Number));
  const r = await execIn(undefined, ['sh', '-c', 'for p in $(pgrep -x nft); do printf "%s %s %s\\n" "$p" "$(ps -o args= -p "$p")" "$(ps -o args= -p "$(ps -o ppid= -p "$p" | tr -d " ")")"; done'], { reject: false });
  for (const line of r.stdout.split('\n')) {
    const m = /^(\d+) (?:\S*\/)?nft monitor (.*)$/.exec(line);
    if (m && m[2]!.includes('services/agent/bundle/main.js') && ours.has(Number(m[1]))) return Number(m[1]);
  }
  return null;
}

/** Spawns the command, ignoring output: a background fault (e.g. a bounded flush loop). */
export function spawnIn(ns: string, argv: string[]): ChildProcess {
  const full = nsArgv(ns, argv);
  return spawn(full[0]!, full.slice(1), { stdio: 'ignore' });
}
