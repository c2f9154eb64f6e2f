import { type GatewayPolicy, RATE_KBIT_MAX, RATE_KBIT_MIN } from '@pgw/domain';
import { nftIpv4, nftMac } from '../ruleset/nft-values.js';

/**
 * Per-client limits (issue 16, docs/SECURITY.md flow 20), rendered purely from the policy.
 *
 * Rates: tc HTB. Download is the LAN interface's egress (the forwarder's side of a DNAT-ed
 * connection leaves by it towards the client), one class per limited client matched by
 * destination IP; unclassified traffic is sent unshaped (`default 0`). Upload is the client's
 * ingress on the LAN interface: tc ingress redirects only the limited clients' packets (by source
 * IP) to an IFB device, whose egress HTB shapes them; every other client never passes the IFB.
 *
 * Quotas and per-client accounting: table inet pgw_quota, quota-table.ts.
 */

export const IFB_DEVICE = 'pgw-ifb0';

export interface TcPlan {
  /** The LAN interface whose egress (download) and ingress (upload, via IFB) are shaped. */
  readonly lan: string;
  /** `tc -batch` lines, in order; empty when no client is rate-limited (then nothing of ours is installed). */
  readonly batch: readonly string[];
  /** Whether the IFB device is needed (some client has an upload limit). */
  readonly ifb: boolean;
  /** Per class: the client, its direction and rate, for the read-back. */
  readonly classes: readonly { readonly dev: string; readonly classid: string; readonly ip: string; readonly rateKbit: number }[];  /**
   * Per device and parent (`dev parent`), the filters as `tc filter show` lists their match and
   * target (tcFilterKey), sorted: the read-back compares them, since the classes alone stay when
   * the filters or the ingress qdisc that feed them are gone.
   */
  readonly filters: ReadonlyMap<string, readonly string[]>;
}

/**
 * A u32 filter on one address as `tc filter show` prints it: the key in hex at its offset (16 dst,
 * 12 src), a pinned client's source MAC keys after it (at -8 and -4), and its class ('-': a redirect).
 */
export function tcFilterKey(ip: string, at: 12 | 16, flowid: string | null, mac: string | null = null): string {
  const hex = ip.split('.').map((octet) => Number(octet).toString(16).padStart(2, '0')).join('');
  const macKeys = mac === null ? '' : ` ${macHalves(mac).high}/ffffffff at -8 ${macHalves(mac).low}0000/ffff0000 at -4`;
  return `${hex}/ffffffff at ${at}${macKeys} ${flowid ?? '-'}`;
}

/** The filter keys of `tc filter show dev <dev> parent <parent>` (tcFilterKey's form: every match of a filter), sorted. */
export function parseTcFilters(text: string): string[] {
  const filters: { flowid: string | null; matches: string[] }[] = [];
  for (const line of text.split('\n')) {
    if (/^filter .* fh \S+::\S+ /.test(line)) filters.push({ flowid: /\bflowid (\d+:[0-9a-f]+)/.exec(line)?.[1] ?? null, matches: [] });
    const match = /^\s+match ([0-9a-f]{8}\/[0-9a-f]{8}) at (-?\d+)/.exec(line);
    if (match) filters.at(-1)?.matches.push(`${match[1]} at ${match[2]}`);
  }
  return filters.filter((f) => f.matches.length > 0).map((f) => `${f.matches.join(' ')} ${f.flowid ?? '-'}`).sort();
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

/**
 * The Ethernet source address of a client pinned to its MAC, as u32 matches on the ingress packet
 * (offsets from the IP header: the source MAC is bytes -8 to -3). Without it tc classified by the
 * source address alone, before nftables drops a spoofer's packets: a LAN host sending with a pinned
 * client's address from another MAC filled that client's upload class.
 */
function sourceMacMatch(mac: string): string {
  const { high, low } = macHalves(mac);
  return ` match u32 0x${high} 0xffffffff at -8 match u16 0x${low} 0xffff at -4`;
}

/** A MAC address's first four octets and last two, in hex: the u32 and u16 of sourceMacMatch. */
function macHalves(mac: string): { high: string; low: string } {
  const hex = mac.split(':').join('');
  return { high: hex.slice(0, 8), low: hex.slice(8) };
}

/** The tc plan of a policy: one HTB class per limited client and direction, classid minor = client order (hex). */
export function renderTcPlan(policy: GatewayPolicy, directions: { readonly upload: boolean } = { upload: true }): TcPlan {
  const lan = tcInterface(policy.lan.interface);
  const down: { ip: string; kbit: number }[] = [];
  const up: { ip: string; kbit: number; mac: string | null }[] = [];
  for (const client of policy.clients) {
    const shaping = client.shaping;
    if (!shaping) continue;
    const ip = nftIpv4(client.ip);
    if (shaping.rateDownKbit !== null) down.push({ ip, kbit: tcRate(shaping.rateDownKbit) });
    // Without upload: the download limits alone, where no IFB device can be had (Shaper).
    if (shaping.rateUpKbit !== null && directions.upload) up.push({ ip, kbit: tcRate(shaping.rateUpKbit), mac: client.mac ? nftMac(client.mac) : null });
  }
  if (down.length + up.length > 0xfffe) throw new Error('refusing to render more than 65534 rate-limited clients (HTB class ids)');
  const batch: string[] = [];
  const classes: TcPlan['classes'][number][] = [];
  const filters = new Map<string, string[]>();
  const filter = (dev: string, parent: string, key: string) => filters.set(`${dev} ${parent}`, [...(filters.get(`${dev} ${parent}`) ?? []), key]);
  const htb = (dev: string, clients: typeof down, match: 'dst' | 'src') => {
    batch.push(`qdisc add dev ${dev} root handle 1: htb default 0`);
    clients.forEach(({ ip, kbit }, i) => {
      const classid = `1:${(i + 1).toString(16)}`;
      const burst = burstBytes(kbit);
      batch.push(`class add dev ${dev} parent 1: classid ${classid} htb rate ${kbit}kbit ceil ${kbit}kbit burst ${burst} cburst ${burst} quantum 60000`);
      batch.push(`filter add dev ${dev} parent 1: protocol ip prio 1 u32 match ip ${match} ${ip}/32 flowid ${classid}`);
      filter(dev, '1:', tcFilterKey(ip, match === 'dst' ? 16 : 12, classid));
      classes.push({ dev, classid, ip, rateKbit: kbit });
    });
  };
  if (down.length > 0) htb(lan, down, 'dst');
  if (up.length > 0) {
    batch.push(`qdisc add dev ${lan} handle ffff: ingress`);
    for (const { ip, mac } of up) {
      batch.push(`filter add dev ${lan} parent ffff: protocol ip prio 1 u32 match ip src ${ip}/32${mac === null ? '' : sourceMacMatch(mac)} action mirred egress redirect dev ${IFB_DEVICE}`);
      filter(lan, 'ffff:', tcFilterKey(ip, 12, null, mac));
    }
    htb(IFB_DEVICE, up, 'src');
  }
  for (const keys of filters.values()) keys.sort();
  return { lan, batch, ifb: up.length > 0, classes, filters };
}

const UNIT_KBIT: Record<string, number> = { bit: 0.001, Kbit: 1, Mbit: 1000, Gbit: 1_000_000 };

/**
 * A rate as `tc class show` prints it back, in kbit/s. tc (iproute2's sprint_rate) moves to the
 * next unit while the value is a whole multiple of 1000 or at least 1000 of that unit, dividing
 * with truncation: 1,234,567 kbit/s is shown as 1234Mbit. The read-back compares with this.
 */
export function tcShownKbit(kbit: number): number {
  let value = kbit * 1000; // bit/s, as tc holds it
  let unit = 0.001; // kbit per unit of `value`
  for (let step = 0; step < 4; step++) {
    if (value < 1000 || (value % 1000 !== 0 && value < 1_000_000)) break;
    value = Math.floor(value / 1000);
    unit *= 1000;
  }
  return Math.round(value * unit);
}

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
