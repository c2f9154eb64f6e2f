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

/**
 * Collects a stream's chunks until the first whole message; bytes after it are not kept (one query
 * per tunnel). Each byte is copied once, into a buffer of the announced length: joining every
 * chunk held so far on each push was quadratic in a resolver's tiny segments.
 */
export class DnsMessageReader {
  /** Bytes before the two-byte length is whole (fewer than 2). */
  private head: Buffer = Buffer.alloc(0);
  private message: Buffer | null = null;
  private filled = 0;

  /** Adds a chunk; returns the first whole message once it is complete, else null. */
  push(chunk: Buffer): Buffer | null {
    let data = chunk;
    if (this.message === null) {
      data = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      if (data.length < 2) {
        this.head = data;
        return null;
      }
      this.message = Buffer.alloc(data.readUInt16BE(0));
      data = data.subarray(2);
    }
    if (this.filled < this.message.length) this.filled += data.copy(this.message, this.filled);
    return this.filled === this.message.length ? this.message : null;
  }
}
