/**
 * conntrack's netlink messages (NFNL_SUBSYS_CTNETLINK, linux/netfilter/nfnetlink_conntrack.h),
 * built and read here, sent by @pgw/original-dst's netfilterTalk. Pure: buffers in, buffers out.
 * Host byte order for netlink headers (little-endian on every platform pgw runs on), network
 * order for addresses, ports and ids, as the kernel writes them.
 */

const NLMSG_HEADER = 16;
const NFGENMSG = 4;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
/** Set by the kernel on a dump message when the table changed while it was dumped. */
const NLM_F_DUMP_INTR = 0x10;
const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_GET = 1;
const IPCTNL_MSG_CT_DELETE = 2;
const AF_INET = 2;
const NLA_TYPE_MASK = 0x3fff;

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

function header(length: number, type: number, flags: number, seq: number): Buffer {
  const buffer = Buffer.alloc(NLMSG_HEADER + NFGENMSG);
  buffer.writeUInt32LE(length, 0);
  buffer.writeUInt16LE((NFNL_SUBSYS_CTNETLINK << 8) | type, 4);
  buffer.writeUInt16LE(flags, 6);
  buffer.writeUInt32LE(seq, 8);
  // nlmsg_pid 0: the kernel; nfgenmsg: AF_INET, NFNETLINK_V0, res_id 0.
  buffer.writeUInt8(AF_INET, 16);
  return buffer;
}

/** A dump of every IPv4 entry of the namespace's conntrack table: the kernel walks its table once. */
export function dumpRequest(seq: number): Buffer {
  return header(NLMSG_HEADER + NFGENMSG, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq);
}

/**
 * One delete per entry, each acknowledged (the answer holds one NLMSG_ERROR per entry). By tuple
 * and id: the kernel finds the entry by hash, and an entry that was replaced since the dump (same
 * tuple, other id) is left alone.
 */
export function deleteRequests(entries: readonly ConntrackEntry[], firstSeq: number): Buffer {
  return Buffer.concat(
    entries.map((entry, i) => {
      const length = NLMSG_HEADER + NFGENMSG + entry.identity.length;
      return Buffer.concat([header(length, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, firstSeq + i), entry.identity]);
    }),
  );
}

interface Attribute {
  readonly type: number;
  /** The whole attribute, header and padding included (what a request copies). */
  readonly raw: Buffer;
  readonly payload: Buffer;
}

function* attributes(buffer: Buffer): Generator<Attribute> {
  let offset = 0;
  while (offset + 4 <= buffer.length) {
    const length = buffer.readUInt16LE(offset);
    if (length < 4 || offset + length > buffer.length) throw new Error(`malformed conntrack attribute at byte ${offset}`);
    const padded = Math.min(buffer.length, offset + align(length));
    yield { type: buffer.readUInt16LE(offset + 2) & NLA_TYPE_MASK, raw: buffer.subarray(offset, padded), payload: buffer.subarray(offset + 4, offset + length) };
    offset = padded;
  }
}

function child(buffer: Buffer, type: number): Attribute | undefined {
  for (const attribute of attributes(buffer)) if (attribute.type === type) return attribute;
  return undefined;
}

const align = (n: number) => (n + 3) & ~3;

/** Netlink messages of an answer: type, flags and body (after the netlink header). */
function* messages(answer: Buffer): Generator<{ type: number; flags: number; seq: number; body: Buffer }> {
  let offset = 0;
  while (offset + NLMSG_HEADER <= answer.length) {
    const length = answer.readUInt32LE(offset);
    if (length < NLMSG_HEADER || offset + length > answer.length) throw new Error(`malformed netlink message at byte ${offset}`);
    yield { type: answer.readUInt16LE(offset + 4), flags: answer.readUInt16LE(offset + 6), seq: answer.readUInt32LE(offset + 8), body: answer.subarray(offset + NLMSG_HEADER, offset + length) };
    offset += align(length);
  }
}

/** NLMSG_ERROR's errno (positive; 0 is an acknowledgement). */
function errnoOf(body: Buffer): number {
  return -body.readInt32LE(0);
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
  let interrupted = false;
  for (const message of messages(answer)) {
    if (message.type === NLMSG_DONE) break;
    if (message.type === NLMSG_ERROR) {
      const errno = errnoOf(message.body);
      if (errno !== 0) throw new Error(`conntrack dump failed: errno ${errno}`);
      continue;
    }
    if (message.flags & NLM_F_DUMP_INTR) interrupted = true;
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
