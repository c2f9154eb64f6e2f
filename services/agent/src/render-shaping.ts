import { type GatewayPolicy, QUOTA_BYTES_MAX, QUOTA_BYTES_MIN, RATE_KBIT_MAX, RATE_KBIT_MIN } from '@pgw/domain';
import { nftInterface, nftIpv4 } from './nft-values.js';

/**
 * Per-client limits (issue 16, docs/SECURITY.md flow 20), rendered purely from the policy.
 *
 * Rates: tc HTB. Download is the LAN interface's egress (the forwarder's side of a DNAT-ed
 * connection leaves by it towards the client), one class per limited client matched by
 * destination IP; unclassified traffic is sent unshaped (`default 0`). Upload is the client's
 * ingress on the LAN interface: tc ingress redirects only the limited clients' packets (by source
 * IP) to an IFB device, whose egress HTB shapes them; every other client never passes the IFB.
 *
 * Quota: a separate nft table `inet pgw_quota`, never replaced as a whole (its named quota objects
 * hold the count): one `quota` object per (mapping, epoch), a map client IP -> object, and a rule
 * each way that drops the client's packets once its object is over: in the kernel, at the packet
 * that crosses the limit. A drop in any table is final, so table inet pgw being replaced (a full
 * apply, a self-heal) neither resets nor lifts a quota.
 */

export const IFB_DEVICE = 'pgw-ifb0';
export const QUOTA_TABLE = 'inet pgw_quota';

export interface TcPlan {
  /** The LAN interface whose egress (download) and ingress (upload, via IFB) are shaped. */
  readonly lan: string;
  /** `tc -batch` lines, in order; empty when no client is rate-limited (then nothing of ours is installed). */
  readonly batch: readonly string[];
  /** Whether the IFB device is needed (some client has an upload limit). */
  readonly ifb: boolean;
  /** Per class: the client, its direction and rate, for the read-back. */
  readonly classes: readonly { readonly dev: string; readonly classid: string; readonly ip: string; readonly rateKbit: number }[];
}

const IFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

function tcInterface(value: string): string {
  if (!IFACE.test(value)) throw new Error(`refusing to render ${JSON.stringify(value)}: not an interface name`);
  return value;
}

function tcRate(kbit: number): number {
  if (!Number.isInteger(kbit) || kbit < RATE_KBIT_MIN || kbit > RATE_KBIT_MAX) throw new Error(`refusing to render ${JSON.stringify(kbit)}: not a rate in kbit/s`);
  return kbit;
}

/**
 * Burst per class: 10 ms at the rate, at least 4 full-size GSO segments' worth (64 KiB each). A
 * smaller bucket starves TCP over the veth/GSO path (measured below the rate); a larger one lets
 * a client exceed its limit over a short window.
 */
function burstBytes(kbit: number): number {
  return Math.max(Math.ceil((kbit * 1000) / 8 / 100), 4 * 65_536);
}

/** The tc plan of a policy: one HTB class per limited client and direction, classid minor = client order (hex). */
export function renderTcPlan(policy: GatewayPolicy): TcPlan {
  const lan = tcInterface(policy.lan.interface);
  const down: { ip: string; kbit: number }[] = [];
  const up: { ip: string; kbit: number }[] = [];
  for (const client of policy.clients) {
    const shaping = client.shaping;
    if (!shaping) continue;
    const ip = nftIpv4(client.ip);
    if (shaping.rateDownKbit !== null) down.push({ ip, kbit: tcRate(shaping.rateDownKbit) });
    if (shaping.rateUpKbit !== null) up.push({ ip, kbit: tcRate(shaping.rateUpKbit) });
  }
  if (down.length + up.length > 0xfffe) throw new Error('refusing to render more than 65534 rate-limited clients (HTB class ids)');
  const batch: string[] = [];
  const classes: TcPlan['classes'][number][] = [];
  const htb = (dev: string, clients: typeof down, match: 'dst' | 'src') => {
    batch.push(`qdisc add dev ${dev} root handle 1: htb default 0`);
    clients.forEach(({ ip, kbit }, i) => {
      const classid = `1:${(i + 1).toString(16)}`;
      const burst = burstBytes(kbit);
      batch.push(`class add dev ${dev} parent 1: classid ${classid} htb rate ${kbit}kbit ceil ${kbit}kbit burst ${burst} cburst ${burst} quantum 60000`);
      batch.push(`filter add dev ${dev} parent 1: protocol ip prio 1 u32 match ip ${match} ${ip}/32 flowid ${classid}`);
      classes.push({ dev, classid, ip, rateKbit: kbit });
    });
  };
  if (down.length > 0) htb(lan, down, 'dst');
  if (up.length > 0) {
    batch.push(`qdisc add dev ${lan} handle ffff: ingress`);
    for (const { ip } of up) batch.push(`filter add dev ${lan} parent ffff: protocol ip prio 1 u32 match ip src ${ip}/32 action mirred egress redirect dev ${IFB_DEVICE}`);
    htb(IFB_DEVICE, up, 'src');
  }
  return { lan, batch, ifb: up.length > 0, classes };
}

/** A quota object as `nft -j list quotas table inet pgw_quota` shows it. */
export interface QuotaObject {
  readonly name: string;
  readonly bytes: number;
  readonly used: number;
}

/** One client's quota object name: a new epoch (an operator's reset) is a new object, a fresh count. */
export function quotaName(mappingId: number, epoch: number): string {
  if (!Number.isInteger(mappingId) || mappingId < 1 || !Number.isInteger(epoch) || epoch < 0) throw new Error(`refusing to render quota of mapping ${mappingId} epoch ${epoch}`);
  return `q${mappingId}_${epoch}`;
}

function quotaBytes(value: number): number {
  if (!Number.isInteger(value) || value < QUOTA_BYTES_MIN || value > QUOTA_BYTES_MAX) throw new Error(`refusing to render ${JSON.stringify(value)}: not a quota in bytes`);
  return value;
}

/**
 * The transaction that turns table inet pgw_quota (as listed: `existing`) into the policy's: the
 * chains and map rewritten, each desired object kept with its count (created when missing; when
 * only its limit changed, created again carrying the bytes used), every other object deleted.
 * Idempotent: applied twice it changes nothing the second time but the map's identical elements.
 */
export function renderQuotaScript(policy: GatewayPolicy, existing: readonly QuotaObject[]): string {
  const lan = nftInterface(policy.lan.interface);
  const have = new Map(existing.map((q) => [q.name, q]));
  const lines = [
    '# table inet pgw_quota, generated by pgw-agent: quota objects keep their counts, do not edit',
    `add table ${QUOTA_TABLE}`,
    `add map ${QUOTA_TABLE} client_quota { type ipv4_addr : quota; }`,
    // Before table inet pgw's from_lan (-150): an over-quota client's packets never reach DNAT.
    `add chain ${QUOTA_TABLE} quota_up { type filter hook prerouting priority -160; policy accept; }`,
    // Download: the forwarder's packets to the client, after the routing decision.
    `add chain ${QUOTA_TABLE} quota_down { type filter hook postrouting priority -160; policy accept; }`,
    `flush chain ${QUOTA_TABLE} quota_up`,
    `flush chain ${QUOTA_TABLE} quota_down`,
    `add rule ${QUOTA_TABLE} quota_up iifname ${lan} quota name ip saddr map @client_quota drop`,
    `add rule ${QUOTA_TABLE} quota_down oifname ${lan} quota name ip daddr map @client_quota drop`,
    `flush map ${QUOTA_TABLE} client_quota`,
  ];
  const wanted = new Set<string>();
  const elements: string[] = [];
  for (const client of policy.clients) {
    const limit = client.shaping?.quotaBytes ?? null;
    if (limit === null) continue;
    const name = quotaName(client.mappingId, client.shaping!.quotaEpoch);
    const bytes = quotaBytes(limit);
    wanted.add(name);
    const known = have.get(name);
    if (known && known.bytes !== bytes) lines.push(`delete quota ${QUOTA_TABLE} ${name}`);
    if (!known || known.bytes !== bytes) lines.push(`add quota ${QUOTA_TABLE} ${name} { over ${bytes} bytes used ${known?.used ?? 0} bytes }`);
    elements.push(`${nftIpv4(client.ip)} : "${name}"`);
  }
  if (elements.length > 0) lines.push(`add element ${QUOTA_TABLE} client_quota { ${elements.join(', ')} }`);
  for (const name of have.keys()) if (!wanted.has(name)) lines.push(`delete quota ${QUOTA_TABLE} ${name}`);
  return lines.join('\n') + '\n';
}

/**
 * Mapping ids over their quota, from the listed objects. The kernel drops once its count reaches
 * the limit (consumed >= quota) and lists `used` capped at the limit, so used == bytes is over.
 */
export function quotaExceeded(policy: GatewayPolicy, objects: readonly QuotaObject[]): Map<number, QuotaObject> {
  const byName = new Map(objects.map((q) => [q.name, q]));
  const over = new Map<number, QuotaObject>();
  for (const client of policy.clients) {
    if (client.shaping?.quotaBytes == null) continue;
    const object = byName.get(quotaName(client.mappingId, client.shaping.quotaEpoch));
    if (object && object.used >= object.bytes) over.set(client.mappingId, object);
  }
  return over;
}

/** `nft -j list quotas table inet pgw_quota` -> its objects. */
export function parseQuotaListing(json: string): QuotaObject[] {
  const parsed = JSON.parse(json) as { nftables?: { quota?: { name: string; bytes: number; used: number } }[] };
  return (parsed.nftables ?? []).flatMap((entry) => (entry.quota ? [{ name: entry.quota.name, bytes: entry.quota.bytes, used: entry.quota.used }] : []));
}

const UNIT_KBIT: Record<string, number> = { bit: 0.001, Kbit: 1, Mbit: 1000, Gbit: 1_000_000 };

/** `tc class show dev X` (text: this tc has no JSON for classes) -> each HTB class and its rate in kbit/s (null: unreadable). */
export function parseTcClasses(text: string): { classid: string; rateKbit: number | null }[] {
  const classes: { classid: string; rateKbit: number | null }[] = [];
  for (const line of text.split('\n')) {
    const match = /^class htb (\S+) .*?\brate (\d+(?:\.\d+)?)(bit|Kbit|Mbit|Gbit)\b/.exec(line);
    if (match) classes.push({ classid: match[1]!, rateKbit: Math.round(Number(match[2]) * UNIT_KBIT[match[3]!]!) });
    else if (line.startsWith('class htb ')) classes.push({ classid: line.split(' ')[2]!, rateKbit: null });
  }
  return classes;
}
