/**
 * Policy routing rules, routes and neighbours as the kernel reports them over NETLINK_ROUTE
 * (linux/fib_rules.h, linux/rtnetlink.h, linux/neighbour.h): the dump requests and their answers,
 * read into typed rows. Pure; sent by @pgw/original-dst's netlinkTalk (kernel-tables.ts). The agent asserts its
 * rules every second: a dump costs a few hundred microseconds where `ip -j rule show` forked the
 * ~100 MB agent (the larger part of its idle CPU, docs/benchmarks.md).
 */
import { AF_INET, attribute, child, errnoOf, message, messages, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_ERROR, stringOf, wholeDumpMessages } from './wire.js';

const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const RTM_NEWRULE = 32;
const RTM_GETRULE = 34;
/** struct fib_rule_hdr and struct rtmsg: both 12 bytes. */
const HEADER = 12;

const FRA_DST = 1;
const FRA_IIFNAME = 3;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_TABLE = 15;
const FRA_FWMASK = 16;
const FRA_PROTOCOL = 21;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_TABLE = 15;

export const RT_TABLE_LOCAL = 255;
export const RTN_LOCAL = 2;
/** The loopback device's index, the same in every network namespace (LOOPBACK_IFINDEX, include/net/net_namespace.h). */
export const LOOPBACK_IFINDEX = 1;

/** A rule's action (FR_ACT_*): look up a table, or one of the terminal ones. */
export type RuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit' | 'unknown';
const ACTIONS: Record<number, RuleAction> = { 1: 'lookup', 2: 'goto', 3: 'nop', 6: 'blackhole', 7: 'unreachable', 8: 'prohibit' };

/** One IPv4 policy routing rule; null where the rule does not match on it. */
export interface RoutingRule {
  readonly priority: number;
  readonly iif: string | null;
  /** Destination prefix, `a.b.c.d/len`. */
  readonly dst: string | null;
  readonly fwmark: number | null;
  readonly fwmask: number | null;
  readonly action: RuleAction;
  /** The table looked up (0 for the terminal actions). */
  readonly table: number;
  /** Who installed it (RTPROT_*): pgw's rules carry their own numbers, the operator's never do. */
  readonly protocol: number;
}

/** One IPv4 route. */
export interface RouteEntry {
  readonly table: number;
  /** RTN_*: unicast 1, local 2, ... */
  readonly type: number;
  /** Destination prefix, `a.b.c.d/len` (`0.0.0.0/0` for a default route). */
  readonly dst: string;
  readonly oif: number | null;
  readonly protocol: number;
}

function dumpRequest(type: number, seq: number): Buffer {
  const header = Buffer.alloc(HEADER);
  header.writeUInt8(AF_INET, 0);
  return message(type, NLM_F_REQUEST | NLM_F_DUMP, seq, header);
}

/** Every IPv4 rule of the namespace. */
export const rulesDumpRequest = (seq: number) => dumpRequest(RTM_GETRULE, seq);
/** Every IPv4 route of the namespace, all tables (filtered here: a gateway's tables are small). */
export const routesDumpRequest = (seq: number) => dumpRequest(RTM_GETROUTE, seq);

const dotted = (b: Buffer) => `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
const u32 = (payload: Buffer | undefined) => (payload?.length === 4 ? payload.readUInt32LE(0) : null);

export function parseRules(answer: Buffer): RoutingRule[] {
  const rules: RoutingRule[] = [];
  for (const m of wholeDumpMessages(answer, 'rule')) {
    if (m.type !== RTM_NEWRULE || m.body.length < HEADER || m.body[0] !== AF_INET) continue;
    const attrs = m.body.subarray(HEADER);
    const dst = child(attrs, FRA_DST)?.payload;
    const iif = child(attrs, FRA_IIFNAME)?.payload;
    const protocol = child(attrs, FRA_PROTOCOL)?.payload;
    rules.push({
      // The kernel leaves the attribute out for priority 0.
      priority: u32(child(attrs, FRA_PRIORITY)?.payload) ?? 0,
      iif: iif ? stringOf(iif) : null,
      dst: dst?.length === 4 ? `${dotted(dst)}/${m.body[1]}` : null,
      fwmark: u32(child(attrs, FRA_FWMARK)?.payload),
      fwmask: u32(child(attrs, FRA_FWMASK)?.payload),
      action: ACTIONS[m.body[7]!] ?? 'unknown',
      table: u32(child(attrs, FRA_TABLE)?.payload) ?? m.body[4]!,
      protocol: protocol?.length === 1 ? protocol[0]! : 0,
    });
  }
  return rules;
}

export function parseRoutes(answer: Buffer): RouteEntry[] {
  const routes: RouteEntry[] = [];
  for (const m of wholeDumpMessages(answer, 'route')) {
    if (m.type !== RTM_NEWROUTE || m.body.length < HEADER || m.body[0] !== AF_INET) continue;
    const attrs = m.body.subarray(HEADER);
    const dst = child(attrs, RTA_DST)?.payload;
    routes.push({
      table: u32(child(attrs, RTA_TABLE)?.payload) ?? m.body[4]!,
      type: m.body[7]!,
      dst: `${dst?.length === 4 ? dotted(dst) : '0.0.0.0'}/${m.body[1]}`,
      oif: u32(child(attrs, RTA_OIF)?.payload),
      protocol: m.body[5]!,
    });
  }
  return routes;
}

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
/** struct ifinfomsg and struct ndmsg. */
const IFINFOMSG = 16;
const NDMSG = 12;
const IFLA_IFNAME = 3;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDA_CACHEINFO = 3;
const NDA_IFINDEX = 8;
const NDA_PROTOCOL = 12;
/** The unit of nda_cacheinfo's ages (clock_t of the userspace ABI): 100 on every Linux architecture. */
const USER_HZ = 100;
/** NUD_* bits of ndm_state, as `ip neigh` names them. */
const NUD_STATES = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE', 'FAILED', 'NOARP', 'PERMANENT'] as const;
export type NeighbourState = (typeof NUD_STATES)[number];

/** One IPv4 neighbour (ARP) entry. */
export interface NeighbourRow {
  readonly ip: string;
  readonly ifindex: number;
  /** Lower-case `aa:bb:...`; null while unresolved (INCOMPLETE, FAILED). */
  readonly mac: string | null;
  readonly states: readonly NeighbourState[];
  /** Since a packet from it confirmed it, and since the entry last changed; null when the kernel did not say. */
  readonly confirmedMsAgo: number | null;
  readonly updatedMsAgo: number | null;
  /** Who installed it (pgw's MAC pins carry their own number, lan-neighbours.ts). */
  readonly protocol: number;
}

/** The index of interface `name`, acknowledged (the answer then always ends, found or not). */
export function linkRequest(name: string, seq: number): Buffer {
  return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, Buffer.concat([Buffer.alloc(IFINFOMSG), attribute(IFLA_IFNAME, Buffer.from(`${name}\0`))]));
}

/** The interface index in linkRequest's answer; throws naming the interface when it does not exist. */
export function parseLinkIndex(answer: Buffer, name: string): number {
  for (const m of messages(answer)) {
    if (m.type === NLMSG_ERROR && errnoOf(m.body) !== 0) throw new Error(`interface ${name}: errno ${errnoOf(m.body)}${errnoOf(m.body) === 19 ? ' (no such device)' : ''}`);
    if (m.type === RTM_NEWLINK && m.body.length >= IFINFOMSG) return m.body.readInt32LE(4);
  }
  throw new Error(`interface ${name}: no answer from the kernel`);
}

/** The IPv4 neighbours of interface `ifindex` (the kernel filters by NDA_IFINDEX). */
export function neighboursDumpRequest(ifindex: number, seq: number): Buffer {
  const ndmsg = Buffer.alloc(NDMSG);
  ndmsg.writeUInt8(AF_INET, 0);
  return message(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, seq, Buffer.concat([ndmsg, attribute(NDA_IFINDEX, u32le(ifindex))]));
}

const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
};

export function parseNeighbours(answer: Buffer, ifindex: number): NeighbourRow[] {
  const rows: NeighbourRow[] = [];
  for (const m of wholeDumpMessages(answer, 'neighbour')) {
    if (m.type !== RTM_NEWNEIGH || m.body.length < NDMSG || m.body[0] !== AF_INET || m.body.readInt32LE(4) !== ifindex) continue;
    const attrs = m.body.subarray(NDMSG);
    const dst = child(attrs, NDA_DST)?.payload;
    if (dst?.length !== 4) continue;
    const lladdr = child(attrs, NDA_LLADDR)?.payload;
    const cache = child(attrs, NDA_CACHEINFO)?.payload;
    const protocol = child(attrs, NDA_PROTOCOL)?.payload;
    const state = m.body.readUInt16LE(8);
    rows.push({
      ip: dotted(dst),
      ifindex,
      mac: lladdr?.length === 6 ? [...lladdr].map((b) => b.toString(16).padStart(2, '0')).join(':') : null,
      states: NUD_STATES.filter((_, bit) => state & (1 << bit)),
      // nda_cacheinfo: confirmed, used, updated, refcnt (clock ticks ago).
      confirmedMsAgo: cache && cache.length >= 16 ? (cache.readUInt32LE(0) * 1000) / USER_HZ : null,
      updatedMsAgo: cache && cache.length >= 16 ? (cache.readUInt32LE(8) * 1000) / USER_HZ : null,
      protocol: protocol?.length === 1 ? protocol[0]! : 0,
    });
  }
  return rows;
}
