/**
 * The lab WAN's DNS server (issue 15): answers `whoami.pgw.test TXT` with the source address of
 * the query it received, so a test sees where a client's DNS really left from (the proxy's exit
 * address when pgw resolves through the proxy, the client's own address on a leak). UDP and TCP.
 * Run as a program:
 *   node --import tsx lab/dns-server.ts <ip> <port>
 * Any other name is NXDOMAIN; whoami.pgw.test with another type is an empty NOERROR answer.
 */
import { createSocket } from 'node:dgram';
import { createServer, isIPv4 } from 'node:net';
import { fileURLToPath } from 'node:url';

export const WHOAMI_NAME = 'whoami.pgw.test';
const TYPE_TXT = 16;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_FORMERR = 1;

export interface DnsQuestion {
  readonly id: number;
  readonly flags: number;
  readonly name: string;
  readonly type: number;
  readonly klass: number;
  /** The question section as received (echoed in the answer). */
  readonly raw: Buffer;
}

/** The first question of a query; null when the message is no well-formed query (no compression in questions). */
export function parseQuery(message: Buffer): DnsQuestion | null {
  if (message.length < 12) return null;
  const flags = message.readUInt16BE(2);
  if ((flags & 0x8000) !== 0 || message.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    if (at >= message.length) return null;
    const len = message[at]!;
    if (len === 0) break;
    if (len > 63 || at + 1 + len > message.length) return null;
    labels.push(message.subarray(at + 1, at + 1 + len).toString('latin1'));
    at += 1 + len;
  }
  at += 1;
  if (at + 4 > message.length) return null;
  return {
    id: message.readUInt16BE(0),
    flags,
    name: labels.join('.').toLowerCase(),
    type: message.readUInt16BE(at),
    klass: message.readUInt16BE(at + 2),
    raw: message.subarray(12, at + 4),
  };
}

/** The answer to `message` from `source`; a malformed query gets FORMERR with its id when it has one. */
export function answer(message: Buffer, source: string): Buffer {
  const q = parseQuery(message);
  if (q === null) {
    const id = message.length >= 2 ? message.readUInt16BE(0) : 0;
    return header(id, 0, RCODE_FORMERR, 0, 0);
  }
  if (q.name !== WHOAMI_NAME) return Buffer.concat([header(q.id, q.flags, RCODE_NXDOMAIN, 1, 0), q.raw]);
  if (q.type !== TYPE_TXT || q.klass !== CLASS_IN) return Buffer.concat([header(q.id, q.flags, 0, 1, 0), q.raw]);
  const text = Buffer.from(source, 'latin1');
  const record = Buffer.alloc(12);
  record.writeUInt16BE(0xc00c, 0); // name: pointer to the question's
  record.writeUInt16BE(TYPE_TXT, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(0, 6); // TTL 0: never cached, every query reaches the server
  record.writeUInt16BE(text.length + 1, 10);
  return Buffer.concat([header(q.id, q.flags, 0, 1, 1), q.raw, record, Buffer.from([text.length]), text]);
}

function header(id: number, queryFlags: number, rcode: number, qd: number, an: number): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(id, 0);
  // QR, AA, the query's opcode and RD; RA 0.
  out.writeUInt16BE(0x8400 | (queryFlags & 0x7900) | rcode, 2);
  out.writeUInt16BE(qd, 4);
  out.writeUInt16BE(an, 6);
  return out;
}

const plainAddress = (address: string) => address.replace(/^::ffff:/, '');

export async function startDnsServer(ip: string, port: number): Promise<{ close(): void }> {
  const udp = createSocket('udp4');
  udp.on('message', (message, from) => udp.send(answer(message, plainAddress(from.address)), from.port, from.address));
  const tcp = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        const reply = answer(message, plainAddress(socket.remoteAddress ?? ''));
        const length = Buffer.alloc(2);
        length.writeUInt16BE(reply.length);
        socket.write(Buffer.concat([length, reply]));
      }
    });
  });
  const bound = (bind: (done: () => void) => void, emitter: { once(event: 'error', listener: (error: Error) => void): unknown }) =>
    new Promise<void>((resolve, reject) => {
      emitter.once('error', reject);
      bind(resolve);
    });
  // Both bound, or neither: a port taken for either is an error naming it, nothing left open.
  const results = await Promise.allSettled([bound((done) => udp.bind(port, ip, done), udp), bound((done) => tcp.listen(port, ip, done), tcp)]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    if (results[0]!.status === 'fulfilled') udp.close();
    if (results[1]!.status === 'fulfilled') tcp.close();
    throw new Error(`dns-server on ${ip}:${port}: ${(failed.reason as Error).message}`);
  }
  return {
    close() {
      udp.close();
      tcp.close();
    },
  };
}

/** argv that runs this server on ip:port, e.g. inside a namespace via lab.spawn. */
export function dnsServerArgv(ip: string, port: number): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), ip, String(port)];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [ip, portText] = process.argv.slice(2);
  const port = Number(portText);
  if (!ip || !isIPv4(ip)) throw new Error(`dns-server: first argument ${JSON.stringify(ip)} is not an IPv4 address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`dns-server: port ${JSON.stringify(portText)} is not a port`);
  startDnsServer(ip, port).then(
    (server) => {
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { server.close(); process.exit(0); });
    },
    (error: Error) => {
      console.error(error.message);
      process.exit(1);
    },
  );
}
