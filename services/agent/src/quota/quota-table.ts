import { type GatewayPolicy, type PolicyClient, QUOTA_BYTES_MAX, QUOTA_BYTES_MIN } from '@pgw/domain';
import { nftInterface, nftIpv4 } from '../ruleset/nft-values.js';

/**
 * Tables inet pgw_quota and inet pgw_acct (issue 16, docs/SECURITY.md flow 20; docs/ARCHITECTURE.md
 * "Client accounting"), rendered purely from the policy and what the kernel lists, written in one
 * transaction. Never replaced as a whole: named quota objects and set elements hold the counts.
 *
 * - Quota: one `quota` object per (mapping, epoch, period), a map client IP -> object, and a rule
 *   each way that drops the client's packets once its object is over: in the kernel, at the packet
 *   that crosses the limit. A drop in any table is final, so table inet pgw being replaced neither
 *   resets nor lifts a quota. A new period or epoch is a new object: a fresh count.
 * - Accounting (table inet pgw_acct, chains at -147 up / -155 down: after the quota drop): three sets of every
 *   mapped client's IP with a counter per element: bytes up (client -> gateway), bytes down
 *   (gateway -> client) and new flows (conntrack state new, counted in packets). One listing of
 *   the table reads them all. A table of its own because nft 1.0.6 fetches every set element of
 *   a table to list anything of it: the quota poll (every 250 ms) lists pgw_quota in ~35 ms at
 *   4096 clients, where the same table with the counter sets took ~250 ms.
 * - `since`: a counter object no rule uses, whose packet count is the Unix time (s) its table's
 *   counters started from zero (nft keeps no table comment on this kernel): a reader of the counters
 *   knows when they restarted, even across an agent restart.
 */

export const QUOTA_TABLE = 'inet pgw_quota';
export const ACCT_TABLE = 'inet pgw_acct';
export const ACCOUNTING_SETS = { up: 'acct_up', down: 'acct_down', flows: 'acct_new' } as const;
export type AccountingSet = keyof typeof ACCOUNTING_SETS;
const SETS = Object.keys(ACCOUNTING_SETS) as AccountingSet[];
/** Rules per chain as rendered, by table: the quota drops; the counters (up: bytes, new flows). */
const RULES = { pgw_quota: { quota_up: 1, quota_down: 1 }, pgw_acct: { acct_up: 2, acct_down: 1 } } as const;
export type CountingTable = keyof typeof RULES;

export interface KernelCounter {
  readonly packets: number;
  readonly bytes: number;
}

/** A quota object as the kernel lists it. */
export interface QuotaObject {
  readonly name: string;
  readonly bytes: number;
  readonly used: number;
}

/** What `nft -j list table` of the two tables shows, or the agent's memory of it. */
export interface QuotaTableReading {
  /** The tables listed and present. */
  readonly present: ReadonlySet<CountingTable>;
  /** Unix seconds the counters started from zero; null: no `since` object. */
  readonly since: number | null;
  readonly quotas: ReadonlyMap<string, QuotaObject>;
  readonly counters: Readonly<Record<AccountingSet, ReadonlyMap<string, KernelCounter>>>;
  /** client IP -> quota object name. */
  readonly quotaMap: ReadonlyMap<string, string>;
  /** `<table> <chain>` -> its rules. */
  readonly rules: ReadonlyMap<string, number>;
}

export const EMPTY_READING: QuotaTableReading = {
  present: new Set(),
  since: null,
  quotas: new Map(),
  counters: { up: new Map(), down: new Map(), flows: new Map() },
  quotaMap: new Map(),
  rules: new Map(),
};

/** One client's quota object name: a new epoch (an operator's reset) or period is a new object, a fresh count. */
export function quotaName(mappingId: number, epoch: number, periodKey: string): string {
  if (!Number.isInteger(mappingId) || mappingId < 1 || !Number.isInteger(epoch) || epoch < 0 || !/^[dm]\d{6,8}$/.test(periodKey)) {
    throw new Error(`refusing to render quota of mapping ${mappingId} epoch ${epoch} period ${periodKey}`);
  }
  return `${quotaStem(mappingId, epoch)}_${periodKey}`;
}

/** A quota object's name without its period: which (mapping, epoch) it counts for. */
export const quotaStem = (mappingId: number, epoch: number): string => `q${mappingId}_${epoch}`;
export const stemOf = (name: string): string => name.replace(/_[dm]\d+$/, '');

function quotaBytes(value: number): number {
  if (!Number.isInteger(value) || value < QUOTA_BYTES_MIN || value > QUOTA_BYTES_MAX) throw new Error(`refusing to render ${JSON.stringify(value)}: not a quota in bytes`);
  return value;
}

const hasQuota = (c: PolicyClient): c is PolicyClient & { shaping: { quotaBytes: number; quotaEpoch: number } } => c.shaping?.quotaBytes != null;

/** client IP -> its quota object (name, limit) for this period. */
function desiredQuotas(policy: GatewayPolicy, periodKey: string): Map<string, { name: string; bytes: number }> {
  const wanted = new Map<string, { name: string; bytes: number }>();
  for (const c of policy.clients) if (hasQuota(c)) wanted.set(nftIpv4(c.ip), { name: quotaName(c.mappingId, c.shaping.quotaEpoch, periodKey), bytes: quotaBytes(c.shaping.quotaBytes) });
  return wanted;
}

const elementOf = (ip: string, c: KernelCounter | undefined) => (c && (c.packets > 0 || c.bytes > 0) ? `${ip} counter packets ${c.packets} bytes ${c.bytes}` : ip);

/**
 * The transaction that turns the listed table into the policy's: chains, rules and quota map
 * rewritten; a desired quota object counts the largest of the kernel's count (`listed`), the one
 * the agent last read (`remembered`) and the stored one (`stored`: quota-store.ts, what a node
 * published before a reboot or failover), capped at its limit: a listed object already at that
 * count with its limit is kept, any other is created (again) with it. A set element the kernel lacks
 * is created with the remembered counters (none: 0). Every other object and element is deleted.
 * Idempotent. `nowS`: the `since` of a table created now.
 */
export function renderQuotaScript(policy: GatewayPolicy, periodKey: string, listed: QuotaTableReading, remembered: QuotaTableReading, nowS: number, stored: ReadonlyMap<string, number> = new Map()): string {
  const lan = nftInterface(policy.lan.interface);
  const t = QUOTA_TABLE;
  const a = ACCT_TABLE;
  const lines = [
    '# tables inet pgw_quota and inet pgw_acct, generated by pgw-agent: quota objects and set elements keep their counts, do not edit',
    `add table ${t}`,
    `add map ${t} client_quota { type ipv4_addr : quota; }`,
    // After table inet pgw's from_lan (-150), so that only what passed its checks counts (a host
    // spoofing a pinned client's IP, or traffic dropped anyway, must not use the client's quota);
    // before TPROXY (-140) and DNAT (-100): an over-quota client's packets never reach the forwarder.
    `add chain ${t} quota_up { type filter hook prerouting priority -148; policy accept; }`,
    // Download: the forwarder's packets to the client, after the routing decision.
    `add chain ${t} quota_down { type filter hook postrouting priority -160; policy accept; }`,
    `flush chain ${t} quota_up`,
    `flush chain ${t} quota_down`,
    `add rule ${t} quota_up iifname ${lan} quota name ip saddr map @client_quota drop`,
    `add rule ${t} quota_down oifname ${lan} quota name ip daddr map @client_quota drop`,
    `flush map ${t} client_quota`,
    `add table ${a}`,
    ...SETS.map((set) => `add set ${a} ${ACCOUNTING_SETS[set]} { type ipv4_addr; counter; }`),
    // After from_lan (-150) and the quota's drop (-148): what a spoofer or an over-quota client sends is not the client's usage.
    `add chain ${a} acct_up { type filter hook prerouting priority -147; policy accept; }`,
    `add chain ${a} acct_down { type filter hook postrouting priority -155; policy accept; }`,
    `flush chain ${a} acct_up`,
    `flush chain ${a} acct_down`,
    `add rule ${a} acct_up iifname ${lan} ip saddr @${ACCOUNTING_SETS.up}`,
    `add rule ${a} acct_up iifname ${lan} ct state new ip saddr @${ACCOUNTING_SETS.flows}`,
    `add rule ${a} acct_down oifname ${lan} ip daddr @${ACCOUNTING_SETS.down}`,
  ];
  if (listed.since === null) lines.push(`add counter ${a} since { packets ${remembered.since ?? Math.floor(nowS)} bytes 0 }`);
  const wanted = desiredQuotas(policy, periodKey);
  const names = new Set<string>();
  const mapElements: string[] = [];
  for (const [ip, { name, bytes }] of wanted) {
    mapElements.push(`${ip} : "${name}"`);
    if (names.has(name)) continue;
    names.add(name);
    const known = listed.quotas.get(name);
    const used = Math.min(quotaSeed(name, listed, remembered, stored), bytes);
    if (known && known.bytes === bytes && known.used >= used) continue;
    // Replaced, not raised in place (nft has no such command): what the kernel counts between the
    // listing and this transaction is lost; a raise only happens when another count is higher.
    if (known) lines.push(`delete quota ${t} ${name}`);
    lines.push(`add quota ${t} ${name} { over ${bytes} bytes used ${used} bytes }`);
  }
  if (mapElements.length > 0) lines.push(`add element ${t} client_quota { ${mapElements.join(', ')} }`);
  for (const name of listed.quotas.keys()) if (!names.has(name)) lines.push(`delete quota ${t} ${name}`);
  const clients = new Set(policy.clients.map((c) => nftIpv4(c.ip)));
  for (const set of SETS) {
    const have = listed.counters[set];
    const missing = [...clients].filter((ip) => !have.has(ip));
    if (missing.length > 0) lines.push(`add element ${a} ${ACCOUNTING_SETS[set]} { ${missing.map((ip) => elementOf(ip, remembered.counters[set].get(ip))).join(', ')} }`);
    const gone = [...have.keys()].filter((ip) => !clients.has(ip));
    if (gone.length > 0) lines.push(`delete element ${a} ${ACCOUNTING_SETS[set]} { ${gone.join(', ')} }`);
  }
  return lines.join('\n') + '\n';
}

/** The largest count of a quota object known: the kernel's, the remembered, the stored one. */
function quotaSeed(name: string, listed: QuotaTableReading, remembered: QuotaTableReading, stored: ReadonlyMap<string, number>): number {
  return Math.max(listed.quotas.get(name)?.used ?? 0, remembered.quotas.get(name)?.used ?? 0, stored.get(name) ?? 0);
}

/**
 * The policy's quota objects that count less than their remembered or stored count (capped at the
 * limit): after a reboot or a failover the kernel's count restarted; the transaction raises them.
 */
export function quotasBelowSeed(policy: GatewayPolicy, periodKey: string, listed: QuotaTableReading, remembered: QuotaTableReading, stored: ReadonlyMap<string, number>): string[] {
  const below: string[] = [];
  for (const { name, bytes } of desiredQuotas(policy, periodKey).values()) {
    const have = listed.quotas.get(name);
    const seed = Math.min(quotaSeed(name, listed, remembered, stored), bytes);
    if (have && have.used < seed) below.push(`quota ${name} counts ${have.used} bytes, ${seed} known`);
  }
  return below;
}

/**
 * How the listed tables differ from the policy's (empty: in force), for the tables asked about.
 * Rules are checked by number per chain (another writer's flush removes them all); objects, the
 * map and the sets by content.
 */
export function quotaTableDrift(policy: GatewayPolicy, periodKey: string, listed: QuotaTableReading, tables: readonly CountingTable[] = ['pgw_quota', 'pgw_acct']): string[] {
  const drift: string[] = [];
  for (const table of tables) {
    if (!listed.present.has(table)) {
      drift.push(`table inet ${table} missing`);
      continue;
    }
    for (const [chain, count] of Object.entries(RULES[table])) {
      const have = listed.rules.get(`${table} ${chain}`);
      if (have !== count) drift.push(`chain ${chain}: ${have ?? 'no'} rules, ${count} expected`);
    }
  }
  if (tables.includes('pgw_quota') && listed.present.has('pgw_quota')) {
    const wanted = desiredQuotas(policy, periodKey);
    for (const [ip, { name, bytes }] of wanted) {
      if (listed.quotas.get(name)?.bytes !== bytes) drift.push(`quota ${name} missing or not ${bytes} bytes`);
      if (listed.quotaMap.get(ip) !== name) drift.push(`client_quota ${ip} not ${name}`);
    }
    if (listed.quotaMap.size !== wanted.size) drift.push(`client_quota has ${listed.quotaMap.size} elements, ${wanted.size} expected`);
    const names = new Set([...wanted.values()].map((q) => q.name));
    for (const name of listed.quotas.keys()) if (!names.has(name)) drift.push(`quota ${name} not wanted`);
  }
  if (tables.includes('pgw_acct') && listed.present.has('pgw_acct')) {
    if (listed.since === null) drift.push('counter since missing');
    const clients = new Set(policy.clients.map((c) => nftIpv4(c.ip)));
    for (const set of SETS) {
      const have = listed.counters[set];
      if (have.size !== clients.size || [...clients].some((ip) => !have.has(ip))) drift.push(`set ${ACCOUNTING_SETS[set]}: ${have.size} elements, ${clients.size} clients`);
    }
  }
  return drift;
}

/**
 * Mapping id -> its quota object of this period, for the clients over quota. The kernel drops once
 * its count reaches the limit (consumed >= quota) and lists `used` capped at the limit.
 */
export function quotaExceeded(policy: GatewayPolicy, periodKey: string, quotas: ReadonlyMap<string, QuotaObject>): Map<number, QuotaObject> {
  const over = new Map<number, QuotaObject>();
  for (const c of policy.clients) {
    if (!hasQuota(c)) continue;
    const object = quotas.get(quotaName(c.mappingId, c.shaping.quotaEpoch, periodKey));
    if (object && object.used >= object.bytes) over.set(c.mappingId, object);
  }
  return over;
}

interface NftJsonItem {
  table?: { name: string };
  quota?: { name: string; bytes: number; used: number };
  counter?: { name: string; packets: number };
  set?: { name: string; elem?: ({ elem: { val: string; counter?: KernelCounter } } | string)[] };
  map?: { name: string; elem?: [string, string][] };
  rule?: { table: string; chain: string };
}

const SET_BY_NAME = new Map(SETS.map((set) => [ACCOUNTING_SETS[set] as string, set]));
const isCountingTable = (name: string): name is CountingTable => name in RULES;

/** `nft -j list table` outputs of the two tables -> one reading; a null output: that table is absent. */
export function parseQuotaTable(...outputs: (string | null)[]): QuotaTableReading {
  const quotas = new Map<string, QuotaObject>();
  const counters: Record<AccountingSet, Map<string, KernelCounter>> = { up: new Map(), down: new Map(), flows: new Map() };
  const quotaMap = new Map<string, string>();
  const rules = new Map<string, number>();
  const present = new Set<CountingTable>();
  let since: number | null = null;
  for (const json of outputs) {
    if (json === null) continue;
    for (const item of ((JSON.parse(json) as { nftables?: NftJsonItem[] }).nftables ?? []) as NftJsonItem[]) {
      if (item.table) {
        if (isCountingTable(item.table.name)) present.add(item.table.name);
      } else if (item.quota) quotas.set(item.quota.name, { name: item.quota.name, bytes: item.quota.bytes, used: item.quota.used });
      else if (item.counter?.name === 'since') since = item.counter.packets;
      else if (item.set && SET_BY_NAME.has(item.set.name)) {
        const target = counters[SET_BY_NAME.get(item.set.name)!];
        for (const e of item.set.elem ?? []) {
          if (typeof e === 'string') target.set(e, { packets: 0, bytes: 0 });
          else target.set(e.elem.val, { packets: e.elem.counter?.packets ?? 0, bytes: e.elem.counter?.bytes ?? 0 });
        }
      } else if (item.map?.name === 'client_quota') for (const [ip, name] of item.map.elem ?? []) quotaMap.set(ip, name);
      else if (item.rule) rules.set(`${item.rule.table} ${item.rule.chain}`, (rules.get(`${item.rule.table} ${item.rule.chain}`) ?? 0) + 1);
    }
  }
  return { present, since, quotas, counters, quotaMap, rules };
}
