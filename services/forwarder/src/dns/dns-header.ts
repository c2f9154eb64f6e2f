// DNS messages as the UDP DNS relay of TPROXY mode needs them (issue 15, docs/ARCHITECTURE.md "DNS
// through the tunnel"): enough of RFC 1035 section 4.1 to refuse what is not a query before a
// tunnel is dialed, match the answer to it, and know how large an answer the client takes over
// UDP (RFC 6891 EDNS). Pure; the relay does the I/O.

/** RFC 1035: the fixed header every message starts with. */
export const DNS_HEADER_BYTES = 12;
/** Largest query relayed: a question is at most 255 bytes of name; EDNS options rarely add 100. */
export const DNS_QUERY_MAX_BYTES = 1232;
/** What a client without EDNS takes over UDP (RFC 1035 section 4.2.1). */
export const DNS_UDP_CLASSIC_BYTES = 512;
/**
 * The most an answer sent back over UDP may take, whatever size the client announces (RFC 6891's
 * usual 4096): larger answers go back truncated and the client asks over TCP. Without it a client
 * announcing 65535 could have a resolver's answer exceed what one datagram carries.
 */
export const DNS_UDP_ANSWER_MAX_BYTES = 4096;

const TYPE_OPT = 41;
const QR = 0x80;
const OPCODE_MASK = 0x78;

export interface DnsQuery {
  readonly id: number;
  /** Largest answer the client takes over UDP: 512, or the EDNS payload size it announced (never below 512). */
  readonly udpAnswerMax: number;
}

export type DnsQueryProblem = 'too_short' | 'too_long' | 'not_a_query' | 'not_standard_query' | 'no_single_question' | 'malformed';

/** A query the relay may forward, or why not. */
export function parseDnsQuery(message: Buffer): DnsQuery | { readonly problem: DnsQueryProblem } {
  if (message.length < DNS_HEADER_BYTES) return { problem: 'too_short' };
  if (message.length > DNS_QUERY_MAX_BYTES) return { problem: 'too_long' };
  const flags = message[2]!;
  if ((flags & QR) !== 0) return { problem: 'not_a_query' };
  // Opcode 0 (QUERY) only: NOTIFY, UPDATE and the rest are not what a client's resolver sends.
  if ((flags & OPCODE_MASK) !== 0) return { problem: 'not_standard_query' };
  if (message.readUInt16BE(4) !== 1) return { problem: 'no_single_question' };
  const records = message.readUInt16BE(6) + message.readUInt16BE(8) + message.readUInt16BE(10);
  let offset = questionsEnd(message, 1);
  if (offset === null) return { problem: 'malformed' };
  let udpAnswerMax = DNS_UDP_CLASSIC_BYTES;
  for (let i = 0; i < records; i++) {
    const nameEnd = skipName(message, offset);
    if (nameEnd === null || nameEnd + 10 > message.length) return { problem: 'malformed' };
    const type = message.readUInt16BE(nameEnd);
    // OPT's CLASS field is the requester's UDP payload size (RFC 6891 section 6.1.2); below 512 means 512.
    if (type === TYPE_OPT) udpAnswerMax = Math.min(DNS_UDP_ANSWER_MAX_BYTES, Math.max(DNS_UDP_CLASSIC_BYTES, message.readUInt16BE(nameEnd + 2)));
    offset = nameEnd + 10 + message.readUInt16BE(nameEnd + 8);
    if (offset > message.length) return { problem: 'malformed' };
  }
  return { id: message.readUInt16BE(0), udpAnswerMax };
}

/** An answer to the query `id`: a header with QR set and the same id. */
export function isDnsAnswerTo(message: Buffer, id: number): boolean {
  return message.length >= DNS_HEADER_BYTES && (message[2]! & QR) !== 0 && message.readUInt16BE(0) === id;
}

/** Offset after `count` questions (name, type, class), or null when they run past the end. */
export function questionsEnd(message: Buffer, count: number): number | null {
  let offset: number | null = DNS_HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    offset = skipName(message, offset);
    if (offset === null || offset + 4 > message.length) return null;
    offset += 4;
  }
  return offset;
}

/** Offset after the (possibly compressed) name at `offset`, or null when it is not a well-formed name. */
export function skipName(message: Buffer, offset: number): number | null {
  // A name is at most 127 labels; a compression pointer ends it (where it points is not followed).
  for (let labels = 0; labels < 128 && offset < message.length; labels++) {
    const length = message[offset]!;
    if (length === 0) return offset + 1;
    if ((length & 0xc0) === 0xc0) return offset + 2 <= message.length ? offset + 2 : null;
    if ((length & 0xc0) !== 0) return null; // 0x40 and 0x80: extended labels, obsolete
    offset += 1 + length;
  }
  return null;
}
