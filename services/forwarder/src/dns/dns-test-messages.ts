// Hand-built DNS messages for the specs of the DNS relay (dns-*.spec.ts, udp-dns-tcp.spec.ts).

/** `whoami.pgw.test` as labels. */
export function encodeName(name: string): Buffer {
  const parts = name.split('.').filter((p) => p.length > 0);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'ascii')])), Buffer.from([0])]);
}

/** A query for TXT `name`; `ednsSize`: with an OPT record announcing that UDP size. */
export function dnsQuery(id: number, name = 'whoami.pgw.test', ednsSize?: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header[2] = 0x01; // RD
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ednsSize === undefined ? 0 : 1, 10);
  const question = Buffer.concat([encodeName(name), Buffer.from([0, 16, 0, 1])]);
  if (ednsSize === undefined) return Buffer.concat([header, question]);
  const opt = Buffer.alloc(11);
  opt[0] = 0; // root name
  opt.writeUInt16BE(41, 1);
  opt.writeUInt16BE(ednsSize, 3);
  return Buffer.concat([header, question, opt]);
}

/** The answer to `query` with one TXT record of `text` (split in 255-byte strings), the name compressed. */
export function dnsTxtAnswer(query: Buffer, text: string): Buffer {
  const questionEnd = 12 + encodeName('whoami.pgw.test').length + 4;
  const header = Buffer.from(query.subarray(0, 12));
  header[2] = 0x81; // QR, RD
  header[3] = 0x80; // RA
  header.writeUInt16BE(1, 6);
  header.writeUInt16BE(0, 10);
  const strings: Buffer[] = [];
  for (let i = 0; i < text.length; i += 255) {
    const piece = Buffer.from(text.slice(i, i + 255), 'ascii');
    strings.push(Buffer.from([piece.length]), piece);
  }
  const rdata = Buffer.concat(strings);
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc00c, 0); // pointer to the question's name
  record.writeUInt16BE(16, 2);
  record.writeUInt16BE(1, 4);
  record.writeUInt32BE(60, 6);
  record.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([header, query.subarray(12, questionEnd), record, rdata]);
}
