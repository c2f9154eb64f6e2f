// DNS over TCP's framing (RFC 1035 section 4.2.2, RFC 7766 section 8): each message is preceded by
// its length as two bytes, network order. Pure.

/** Largest message the two-byte length can carry. */
export const DNS_TCP_MESSAGE_MAX = 0xffff;

/** `message` with its two-byte length in front. */
export function frameDnsMessage(message: Buffer): Buffer {
  if (message.length > DNS_TCP_MESSAGE_MAX) throw new RangeError(`a DNS message of ${message.length} bytes does not fit the two-byte length`);
  const framed = Buffer.allocUnsafe(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  return framed;
}

/** Collects a stream's chunks until the first whole message; bytes after it are not kept (one query per tunnel). */
export class DnsMessageReader {
  private readonly chunks: Buffer[] = [];
  private held = 0;

  /** Adds a chunk; returns the first whole message once it is complete, else null. */
  push(chunk: Buffer): Buffer | null {
    this.chunks.push(chunk);
    this.held += chunk.length;
    if (this.held < 2) return null;
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.held);
    this.chunks.length = 0;
    this.chunks.push(all);
    const length = all.readUInt16BE(0);
    return this.held >= 2 + length ? Buffer.from(all.subarray(2, 2 + length)) : null;
  }
}
