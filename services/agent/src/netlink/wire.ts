/**
 * Netlink's framing (linux/netlink.h), shared by the conntrack, rtnetlink and nftables codecs of
 * this folder. Pure: buffers in, buffers out; sent by @pgw/original-dst's netlinkTalk. Host byte
 * order for headers and the kernel's own integers (little-endian on every platform pgw runs on).
 */

export const NLMSG_HEADER = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
/** Set by the kernel on a dump message when the table changed while it was dumped. */
export const NLM_F_DUMP_INTR = 0x10;
export const AF_INET = 2;
const NLA_TYPE_MASK = 0x3fff;

export const align = (n: number) => (n + 3) & ~3;

/** A message: netlink header (length, type, flags, seq; pid 0, the kernel) then `body`. */
export function message(type: number, flags: number, seq: number, body: Buffer): Buffer {
  const head = Buffer.alloc(NLMSG_HEADER);
  head.writeUInt32LE(NLMSG_HEADER + body.length, 0);
  head.writeUInt16LE(type, 4);
  head.writeUInt16LE(flags, 6);
  head.writeUInt32LE(seq, 8);
  return Buffer.concat([head, body]);
}

export interface Message {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  /** After the netlink header. */
  readonly body: Buffer;
}

/** The messages of an answer, in order. */
export function* messages(answer: Buffer): Generator<Message> {
  let offset = 0;
  while (offset + NLMSG_HEADER <= answer.length) {
    const length = answer.readUInt32LE(offset);
    if (length < NLMSG_HEADER || offset + length > answer.length) throw new Error(`malformed netlink message at byte ${offset}`);
    yield { type: answer.readUInt16LE(offset + 4), flags: answer.readUInt16LE(offset + 6), seq: answer.readUInt32LE(offset + 8), body: answer.subarray(offset + NLMSG_HEADER, offset + length) };
    offset += align(length);
  }
}

/** struct nfgenmsg, before the attributes of every NETLINK_NETFILTER message. */
export const NFGENMSG = 4;

/** A netfilter subsystem's message (conntrack, nf_tables): nfgenmsg (`family`, NFNETLINK_V0, res_id 0), then `attrs`. */
export function nfnetlinkMessage(subsystem: number, type: number, family: number, flags: number, seq: number, attrs: Buffer = Buffer.alloc(0)): Buffer {
  const nfgen = Buffer.alloc(NFGENMSG);
  nfgen.writeUInt8(family, 0);
  return message((subsystem << 8) | type, flags, seq, Buffer.concat([nfgen, attrs]));
}

/** NLMSG_ERROR's errno (positive; 0 is an acknowledgement). */
export function errnoOf(body: Buffer): number {
  return -body.readInt32LE(0);
}

/**
 * The data messages of a dump answer, up to NLMSG_DONE; throws on the kernel's error, naming `what`.
 * `interrupted`: the kernel flagged a message NLM_F_DUMP_INTR (its table changed meanwhile).
 */
export function dumpMessages(answer: Buffer, what: string): { messages: Message[]; interrupted: boolean } {
  const found: Message[] = [];
  let interrupted = false;
  for (const m of messages(answer)) {
    if (m.type === NLMSG_DONE) {
      // A dump that failed part way ends with DONE carrying the error: what came is not all.
      const errno = m.body.length >= 4 ? errnoOf(m.body) : 0;
      if (errno !== 0) throw new Error(`${what} dump failed: errno ${errno}`);
      break;
    }
    if (m.type === NLMSG_ERROR) {
      const errno = errnoOf(m.body);
      if (errno !== 0) throw new Error(`${what} dump failed: errno ${errno}`);
      continue;
    }
    if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
    found.push(m);
  }
  return { messages: found, interrupted };
}

/** A dump the kernel flagged NLM_F_DUMP_INTR: its table changed meanwhile, a row may be missing. */
export class DumpInterrupted extends Error {
  constructor(what: string) {
    super(`${what} dump interrupted by a change of the table`);
  }
}

/** dumpMessages for a listing that must be whole: an interrupted dump throws DumpInterrupted (read again). */
export function wholeDumpMessages(answer: Buffer, what: string): Message[] {
  const { messages: found, interrupted } = dumpMessages(answer, what);
  if (interrupted) throw new DumpInterrupted(what);
  return found;
}

export interface Attribute {
  readonly type: number;
  /** The whole attribute, header and padding included (what a request copies). */
  readonly raw: Buffer;
  readonly payload: Buffer;
}

/** The attributes at the top level of `buffer` (nested ones are in a payload). */
export function* attributes(buffer: Buffer): Generator<Attribute> {
  let offset = 0;
  while (offset + 4 <= buffer.length) {
    const length = buffer.readUInt16LE(offset);
    if (length < 4 || offset + length > buffer.length) throw new Error(`malformed netlink attribute at byte ${offset}`);
    const padded = Math.min(buffer.length, offset + align(length));
    yield { type: buffer.readUInt16LE(offset + 2) & NLA_TYPE_MASK, raw: buffer.subarray(offset, padded), payload: buffer.subarray(offset + 4, offset + length) };
    offset = padded;
  }
}

/** The first attribute of `type` in `buffer`. */
export function child(buffer: Buffer, type: number): Attribute | undefined {
  for (const attribute of attributes(buffer)) if (attribute.type === type) return attribute;
  return undefined;
}

/** A NUL-terminated string attribute's text. */
export function stringOf(payload: Buffer): string {
  const end = payload.indexOf(0);
  return payload.toString('utf8', 0, end === -1 ? payload.length : end);
}

/** An attribute for a request: header, payload, padding. */
export function attribute(type: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(align(4 + payload.length));
  out.writeUInt16LE(4 + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}
