// IP literal -> network-order bytes, for SOCKS5 ATYP 1/4. Inputs are already validated by
// net.isIP, so these only convert; Node has no public text-to-bytes API for addresses.

export function writeIpv4(text: string, out: Buffer, offset: number): void {
  let octet = 0;
  let at = offset;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x2e) {
      out[at++] = octet;
      octet = 0;
    } else {
      octet = octet * 10 + (code - 0x30);
    }
  }
  out[at] = octet;
}

/** Writes 16 bytes; handles "::" compression and a trailing dotted IPv4 part. */
export function writeIpv6(text: string, out: Buffer, offset: number): void {
  const gap = text.indexOf('::');
  const head = expandGroups(gap === -1 ? text : text.slice(0, gap));
  const tail = gap === -1 ? [] : expandGroups(text.slice(gap + 2));
  out.fill(0, offset, offset + 16);
  for (let i = 0; i < head.length; i++) out.writeUInt16BE(head[i]!, offset + 2 * i);
  for (let i = 0; i < tail.length; i++) out.writeUInt16BE(tail[i]!, offset + 2 * (8 - tail.length + i));
}

function expandGroups(text: string): number[] {
  const values: number[] = [];
  if (text === '') return values;
  for (const part of text.split(':')) {
    if (part.includes('.')) {
      const v4 = Buffer.allocUnsafe(4);
      writeIpv4(part, v4, 0);
      values.push(v4.readUInt16BE(0), v4.readUInt16BE(2));
    } else {
      values.push(parseInt(part, 16));
    }
  }
  return values;
}
