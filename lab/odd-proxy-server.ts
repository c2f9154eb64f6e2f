/**
 * Proxy servers that behave as some real ones do and the lab's dante and tinyproxy do not: the
 * hard cases of the interop matrix (docs/OPERATIONS.md, "Proxy interop"). Each leaves from its
 * own address (exit IP = its listening address). Run as a program (inside a namespace via lab.spawn):
 *   node --import tsx lab/odd-proxy-server.ts <behaviour> <ip> <port>
 * with PGW_ODD_PROXY_AUTH=user:password for username/password (SOCKS5) or Basic (HTTP) auth.
 */
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const ODD_BEHAVIOURS = [
  // SOCKS5: reads each message with one read and drops whatever came after it in that read
  // (a pipelined auth and CONNECT are lost, as with several small widely deployed servers).
  'socks5-one-read',
  // SOCKS5: every reply byte in its own segment.
  'socks5-split',
  // SOCKS5: BND.ADDR in the CONNECT reply is a domain name / an IPv6 address.
  'socks5-bnd-domain',
  'socks5-bnd-ipv6',
  // SOCKS5: answers the greeting, then closes (whatever the client does next).
  'socks5-close-after-method',
  // SOCKS5: takes a pipelined handshake, but drops whatever the client sent after the CONNECT
  // before the reply (a server that reads the handshake through a buffer, then relays the raw
  // socket): early data is lost.
  'socks5-drops-early-data',
  // SOCKS5: takes a pipelined handshake, but refuses a CONNECT that has bytes after it (reply 01,
  // general failure), as a server checking the request's length would.
  'socks5-refuses-early-data',
  // SOCKS5: answers its CONNECT only SLOW_TARGET_MS after it reached the target, as a proxy does
  // whose way to the target is slow (a far target, a slow DNS lookup on its side).
  'socks5-slow-target',
  // SOCKS5: serves CONNECT, never answers UDP ASSOCIATE (the connection stays open, silent), as
  // servers that do not know the command and wait for more.
  'socks5-udp-silent',
  // SOCKS5: serves CONNECT, hangs up on UDP ASSOCIATE (as servers that do not know the command do).
  'socks5-udp-closes',
  // SOCKS5: serves CONNECT, answers UDP ASSOCIATE naming a relay at another public address
  // (198.51.100.199), as a proxy service whose UDP relays run on other hosts does.
  'socks5-udp-relay-elsewhere',
  // SOCKS5: serves CONNECT, answers UDP ASSOCIATE naming a relay at a private address (10.9.9.9),
  // as a server behind NAT names its internal one, and keeps the control connection open.
  'socks5-udp-private-relay',
  // HTTP CONNECT answered "HTTP/1.0 200 Connection established".
  'http-1.0',
  // HTTP CONNECT answered with a 200 carrying many extra headers.
  'http-headers',
  // HTTP CONNECT whose 200 and the target's first bytes leave in one write (one segment).
  'http-same-segment',
  // HTTP CONNECT answered with bare LF line ends ("HTTP/1.0 200 OK\n...\n\n"), as small proxies
  // written against lenient clients do (RFC 9112 section 2.2 lets a recipient take them).
  'http-bare-lf',
  // Not a proxy: a target that speaks first ("hello <peer address>\n"), for http-same-segment.
  'banner',
] as const;
export type OddBehaviour = (typeof ODD_BEHAVIOURS)[number];

export interface OddProxyOptions {
  behaviour: OddBehaviour;
  ip: string;
  port: number;
  auth?: { username: string; password: string };
}

/** How much later than its reach of the target socks5-slow-target answers a CONNECT. */
export const SLOW_TARGET_MS = 800;

/** How long http-same-segment waits for the target to speak first before it sends its 200 alone. */
const SAME_SEGMENT_WAIT_MS = 300;

/** Reads whole messages off a socket: all bytes in order, or (oneRead) one message per read. */
class MessageReader {
  private buffered = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private wake: (() => void) | null = null;
  private ended = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly oneRead: boolean,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.wake?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake?.();
    });
  }

  /** `length` says how long the message at the start of a buffer is (0: incomplete). */
  async take(length: (bytes: Buffer) => number): Promise<Buffer> {
    for (;;) {
      if (this.oneRead) {
        const chunk = this.chunks.shift();
        if (chunk !== undefined) {
          const n = length(chunk);
          if (n === 0) throw new Error('message split over two reads');
          return chunk.subarray(0, n); // the rest of this read is dropped
        }
      } else {
        if (this.chunks.length > 0) this.buffered = Buffer.concat([this.buffered, ...this.chunks.splice(0)]);
        const n = length(this.buffered);
        if (n > 0) {
          const message = this.buffered.subarray(0, n);
          this.buffered = this.buffered.subarray(n);
          return message;
        }
      }
      if (this.ended) throw new Error('client closed');
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
  }

  /** What arrived past the handshake, handed to the tunnel. */
  rest(): Buffer {
    return this.oneRead ? Buffer.alloc(0) : Buffer.concat([this.buffered, ...this.chunks.splice(0)]);
  }
}

async function send(socket: net.Socket, bytes: Buffer, split: boolean): Promise<void> {
  if (!split) {
    socket.write(bytes);
    return;
  }
  for (const byte of bytes) {
    socket.write(Buffer.from([byte]));
    await sleep(2); // a segment each (TCP_NODELAY)
  }
}

function greetingLength(b: Buffer): number {
  return b.length >= 2 && b.length >= 2 + b[1]! ? 2 + b[1]! : 0;
}
function authLength(b: Buffer): number {
  if (b.length < 2) return 0;
  const u = b[1]!;
  if (b.length < 3 + u) return 0;
  const end = 3 + u + b[2 + u]!;
  return b.length >= end ? end : 0;
}
function requestLength(b: Buffer): number {
  if (b.length < 5) return 0;
  const atyp = b[3];
  const address = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + b[4]! : -1;
  if (address < 0) return b.length; // unparseable: taken whole, refused below
  return b.length >= 4 + address + 2 ? 4 + address + 2 : 0;
}

function requestTarget(req: Buffer): { host: string; port: number } | null {
  const atyp = req[3];
  if (req[0] !== 5 || req[1] !== 1) return null;
  if (atyp === 1) return { host: [...req.subarray(4, 8)].join('.'), port: req.readUInt16BE(8) };
  if (atyp === 3) return { host: req.toString('latin1', 5, 5 + req[4]!), port: req.readUInt16BE(5 + req[4]!) };
  if (atyp === 4) {
    const groups = Array.from({ length: 8 }, (_, i) => req.readUInt16BE(4 + 2 * i).toString(16));
    return { host: groups.join(':'), port: req.readUInt16BE(20) };
  }
  return null;
}

function bndAddress(behaviour: OddBehaviour, local: string, port: number): Buffer {
  const portBytes = Buffer.alloc(2);
  portBytes.writeUInt16BE(port);
  if (behaviour === 'socks5-bnd-domain') {
    const name = Buffer.from('egress.proxy.example', 'latin1');
    return Buffer.concat([Buffer.from([3, name.length]), name, portBytes]);
  }
  if (behaviour === 'socks5-bnd-ipv6') {
    return Buffer.concat([Buffer.from([4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05]), portBytes]);
  }
  return Buffer.concat([Buffer.from([1, ...local.split('.').map(Number)]), portBytes]);
}

function dialTarget(host: string, port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const upstream = net.connect({ host, port, localAddress, noDelay: true });
    upstream.once('connect', () => {
      upstream.removeListener('error', reject);
      resolve(upstream);
    });
    upstream.once('error', reject);
  });
}

function tunnel(client: net.Socket, upstream: net.Socket, early: Buffer): void {
  if (early.length > 0) upstream.write(early);
  client.removeAllListeners('data');
  client.removeAllListeners('end');
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
}

async function serveSocks5(client: net.Socket, opts: OddProxyOptions): Promise<void> {
  const { behaviour } = opts;
  const split = behaviour === 'socks5-split';
  const reader = new MessageReader(client, behaviour === 'socks5-one-read');
  const greeting = await reader.take(greetingLength);
  const wanted = opts.auth ? 2 : 0;
  if (greeting[0] !== 5 || !greeting.subarray(2).includes(wanted)) {
    await send(client, Buffer.from([5, 0xff]), split);
    client.end();
    return;
  }
  await send(client, Buffer.from([5, wanted]), split);
  if (behaviour === 'socks5-close-after-method') {
    client.end();
    return;
  }
  if (opts.auth) {
    const auth = await reader.take(authLength);
    const user = auth.toString('utf8', 2, 2 + auth[1]!);
    const pass = auth.toString('utf8', 3 + auth[1]!, 3 + auth[1]! + auth[2 + auth[1]!]!);
    const ok = user === opts.auth.username && pass === opts.auth.password;
    await send(client, Buffer.from([1, ok ? 0 : 1]), split);
    if (!ok) {
      client.end();
      return;
    }
  }
  const request = await reader.take(requestLength);
  if (behaviour === 'socks5-refuses-early-data') {
    await sleep(20);
    if (reader.rest().length > 0) {
      await send(client, Buffer.from([5, 1, 0, 1, 0, 0, 0, 0, 0, 0]), false);
      client.end();
      return;
    }
  }
  if (behaviour === 'socks5-udp-silent' && request[1] === 3) return;
  if (behaviour === 'socks5-udp-closes' && request[1] === 3) return void client.destroy();
  if (behaviour === 'socks5-udp-relay-elsewhere' && request[1] === 3) return void (await send(client, Buffer.from([5, 0, 0, 1, 198, 51, 100, 199, 0x27, 0x0f]), split));
  if (behaviour === 'socks5-udp-private-relay' && request[1] === 3) return void (await send(client, Buffer.from([5, 0, 0, 1, 10, 9, 9, 9, 0x27, 0x0f]), split));
  const target = requestTarget(request);
  if (target === null) {
    await send(client, Buffer.from([5, 7, 0, 1, 0, 0, 0, 0, 0, 0]), split);
    client.end();
    return;
  }
  let upstream: net.Socket;
  try {
    upstream = await dialTarget(target.host, target.port, opts.ip);
  } catch {
    await send(client, Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]), split);
    client.end();
    return;
  }
  if (behaviour === 'socks5-slow-target') await sleep(SLOW_TARGET_MS);
  await send(client, Buffer.concat([Buffer.from([5, 0, 0]), bndAddress(behaviour, opts.ip, upstream.localPort ?? 0)]), split);
  const early = reader.rest();
  tunnel(client, upstream, behaviour === 'socks5-drops-early-data' ? Buffer.alloc(0) : early);
}

function headLength(b: Buffer): number {
  const end = b.indexOf('\r\n\r\n');
  return end === -1 ? 0 : end + 4;
}

async function serveHttp(client: net.Socket, opts: OddProxyOptions): Promise<void> {
  const reader = new MessageReader(client, false);
  const head = (await reader.take(headLength)).toString('latin1');
  const [requestLine, ...headerLines] = head.split('\r\n');
  const match = /^CONNECT (\[[^\]]+\]|[^:\s]+):(\d+) HTTP\/1\.[01]$/.exec(requestLine ?? '');
  if (match === null) {
    client.end('HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  if (opts.auth) {
    const expected = `basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}`.toLowerCase();
    const given = headerLines.find((l) => l.toLowerCase().startsWith('proxy-authorization:'))?.slice(20).trim().toLowerCase();
    if (given !== expected) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="odd"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
  }
  let upstream: net.Socket;
  try {
    upstream = await dialTarget(match[1]!.replace(/^\[|\]$/g, ''), Number(match[2]), opts.ip);
  } catch {
    client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  if (opts.behaviour === 'http-1.0') {
    client.write('HTTP/1.0 200 Connection established\r\n\r\n');
  } else if (opts.behaviour === 'http-bare-lf') {
    client.write('HTTP/1.0 200 Connection established\nProxy-Agent: odd/1.0\n\n');
  } else if (opts.behaviour === 'http-headers') {
    client.write(
      'HTTP/1.1 200 Connection established\r\nProxy-Agent: odd/1.0\r\nVia: 1.1 odd-proxy\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n' +
        `X-Egress-Address: ${opts.ip}\r\nX-Padding: ${'p'.repeat(2000)}\r\nConnection: keep-alive\r\n\r\n`,
    );
  } else {
    // http-same-segment: the target's first bytes (if it speaks first) go out with the 200.
    const first = await new Promise<Buffer>((resolve) => {
      const timer = setTimeout(() => resolve(Buffer.alloc(0)), SAME_SEGMENT_WAIT_MS);
      upstream.once('data', (chunk: Buffer) => {
        clearTimeout(timer);
        upstream.pause();
        resolve(chunk);
      });
    });
    client.write(Buffer.concat([Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n', 'latin1'), first]));
    upstream.resume();
  }
  tunnel(client, upstream, reader.rest());
}

/** Starts one odd server; resolves once it listens. */
export function startOddProxy(opts: OddProxyOptions): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, (client) => {
    client.on('error', () => client.destroy());
    if (opts.behaviour === 'banner') {
      client.end(`hello ${client.remoteAddress}\n`);
      return;
    }
    const serve = opts.behaviour.startsWith('socks5') ? serveSocks5 : serveHttp;
    serve(client, opts).catch(() => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.ip, () => resolve(server));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [behaviour, ip, port] = process.argv.slice(2);
  if (!(ODD_BEHAVIOURS as readonly string[]).includes(behaviour ?? '')) throw new Error(`odd-proxy-server: unknown behaviour ${JSON.stringify(behaviour)} (${ODD_BEHAVIOURS.join(', ')})`);
  if (!ip || net.isIP(ip) === 0) throw new Error(`odd-proxy-server: ${JSON.stringify(ip)} is not an IP address`);
  if (!Number.isInteger(Number(port)) || Number(port) < 1 || Number(port) > 65535) throw new Error(`odd-proxy-server: ${JSON.stringify(port)} is not a port`);
  const auth = process.env.PGW_ODD_PROXY_AUTH;
  const colon = auth?.indexOf(':') ?? -1;
  const server = await startOddProxy({
    behaviour: behaviour as OddBehaviour,
    ip,
    port: Number(port),
    ...(auth !== undefined && colon > 0 ? { auth: { username: auth.slice(0, colon), password: auth.slice(colon + 1) } } : {}),
  });
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => { server.close(); process.exit(0); });
}
