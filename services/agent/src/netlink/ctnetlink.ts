/**
 * conntrack's netlink messages (NFNL_SUBSYS_CTNETLINK, linux/netfilter/nfnetlink_conntrack.h),
 * built and read here on netlink's framing (wire.ts), sent by @pgw/original-dst's netlinkTalk.
 * Network order for addresses, ports and ids, as the kernel writes them.
 */
import { AF_INET, type Attribute, attributes, child, dumpMessages, errnoOf, messages, NFGENMSG, nfnetlinkMessage, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NLMSG_ERROR } from './wire.js';

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;

const CTA_TUPLE_ORIG = 1;
const CTA_TUPLE_REPLY = 2;
const CTA_ID = 12;
const CTA_ZONE = 18;
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_IP_V4_SRC = 1;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const IPPROTO_TCP = 6;

/** One tracked connection as the delete needs it: its original tuple, zone and id, as the kernel sent them. */
export interface ConntrackEntry {
  /** Original direction's source address, dotted quad. */
  readonly source: string;
  /** The CTA_TUPLE_ORIG, CTA_ZONE (when present) and CTA_ID attributes, verbatim. */
  readonly identity: Buffer;
}

export interface DumpAnswer {
  readonly entries: ConntrackEntry[];
  /** The table changed during the dump: an entry may be missing (dump again). */
  readonly interrupted: boolean;
}

/** A ctnetlink message about the IPv4 table. */
const ctMessage = (type: number, flags: number, seq: number, attrs?: Buffer) => nfnetlinkMessage(NFNL_SUBSYS_CTNETLINK, type, AF_INET, flags, seq, attrs);

/** A dump of every IPv4 entry of the namespace's conntrack table: the kernel walks its table once. */
export function dumpRequest(seq: number): Buffer {
  return ctMessage(IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq);
}

/**
 * One delete per entry, each acknowledged (the answer holds one NLMSG_ERROR per entry). By tuple
 * and id: the kernel finds the entry by hash, and an entry that was replaced since the dump (same
 * tuple, other id) is left alone.
 */
export function deleteRequests(entries: readonly ConntrackEntry[], firstSeq: number): Buffer {
  return Buffer.concat(
    entries.map((entry, i) => ctMessage(IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, firstSeq + i, entry.identity)),
  );
}

/**
 * Per client address (original source) whose entries are wanted: the port whose DNAT-ed TCP
 * entries are left out (answers come from that port: the reply tuple's source).
 */
export type EntryFilter = ReadonlyMap<string, number>;

/** The reply tuple's protocol and source port, or null when it has none (ICMP and the like). */
function replySource(reply: Attribute | undefined): { proto: number; port: number } | null {
  const proto = child(reply?.payload ?? Buffer.alloc(0), CTA_TUPLE_PROTO)?.payload;
  if (!proto) return null;
  const num = child(proto, CTA_PROTO_NUM)?.payload;
  const port = child(proto, CTA_PROTO_SRC_PORT)?.payload;
  if (num?.length !== 1 || port?.length !== 2) return null;
  return { proto: num[0]!, port: port.readUInt16BE(0) };
}

/** The entries of a dump answer the filter selects by original source (and kept port); throws on a kernel error. */
export function parseDump(answer: Buffer, wanted: EntryFilter): DumpAnswer {
  const entries: ConntrackEntry[] = [];
  const { messages: found, interrupted } = dumpMessages(answer, 'conntrack');
  for (const message of found) {
    if (message.type >> 8 !== NFNL_SUBSYS_CTNETLINK) continue;
    const attrs = message.body.subarray(NFGENMSG);
    let tuple: Attribute | undefined;
    let reply: Attribute | undefined;
    let id: Attribute | undefined;
    let zone: Attribute | undefined;
    for (const attribute of attributes(attrs)) {
      if (attribute.type === CTA_TUPLE_ORIG) tuple = attribute;
      else if (attribute.type === CTA_TUPLE_REPLY) reply = attribute;
      else if (attribute.type === CTA_ID) id = attribute;
      else if (attribute.type === CTA_ZONE) zone = attribute;
    }
    if (!tuple || !id) continue;
    const address = child(child(tuple.payload, CTA_TUPLE_IP)?.payload ?? Buffer.alloc(0), CTA_IP_V4_SRC)?.payload;
    if (address?.length !== 4) continue;
    const source = `${address[0]}.${address[1]}.${address[2]}.${address[3]}`;
    const keepPort = wanted.get(source);
    if (keepPort === undefined) continue;
    const answered = replySource(reply);
    if (answered?.proto === IPPROTO_TCP && answered.port === keepPort) continue;
    // Copied: the answer buffer may be large, an entry keeps only its own bytes.
    entries.push({ source, identity: Buffer.from(Buffer.concat([tuple.raw, ...(zone ? [zone.raw] : []), id.raw])) });
  }
  return { entries, interrupted };
}

/** The kernel's answers to deleteRequests: how many were deleted, and errors other than "already gone". */
export function parseAcks(answer: Buffer): { deleted: number; gone: number; errors: number[] } {
  const errors: number[] = [];
  let deleted = 0;
  let gone = 0;
  for (const message of messages(answer)) {
    if (message.type !== NLMSG_ERROR) continue;
    const errno = errnoOf(message.body);
    if (errno === 0) deleted++;
    // ENOENT: the connection ended (or was replaced) between the dump and the delete.
    else if (errno === 2) gone++;
    else errors.push(errno);
  }
  return { deleted, gone, errors };
}
