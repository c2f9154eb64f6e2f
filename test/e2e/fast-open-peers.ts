/**
 * The two ends of forwarder-fast-open.test.ts's dial-level cases, run in the lab's namespaces:
 *
 *   fast-open-peers.ts server <ip> <port> refuse-auth-reset | head-answer   (WAN namespace)
 *   fast-open-peers.ts dial '{"url", "target", "blockMs"[, "early" | "headBytes"]}'  (gateway namespace)
 *
 * server refuse-auth-reset: a SOCKS5 proxy that, without reading anything, answers "username
 * auth" then "refused" (05 02 01 01) and closes: the request it never read makes the close a reset.
 * server head-answer: reads an HTTP request head, answers 200 then "got <head length>".
 * dial: the forwarder's own native dial (dialUpstream, TCP Fast Open on) to `url` twice: the
 * first fetches the host's Fast Open cookie, the second is reported; after starting it the event
 * loop is kept busy `blockMs`, so that the proxy's answer (and its reset) are all there before the
 * dial looks. With `early`, a local client has sent those bytes before the dial starts and the
 * dial is SOCKS5 early-data with that client's socket. With `headBytes`, the addon's dial itself
 * (dialNative, Fast Open on) sends an HTTP CONNECT head padded to that length (longer than the
 * dialers make: a credential is 255 bytes at most) and waits for a 2xx head. Prints one JSON line: { ok: true, leftover,
 * earlyBytes, clientLeft } (clientLeft: the client's bytes still on its socket after the dial) or
 * { ok: false, step, message }.
 */
import net from 'node:net';
import { DialError } from '@pgw/dialers';
import { parseProxyUrl } from '@pgw/domain';
import { closeFd, dialNative } from '@pgw/original-dst';
import { dialUpstream, isNativeUpstream } from '../../services/forwarder/src/tcp/native-dial.js';

function serve(ip: string, port: number, behaviour: string): void {
  if (behaviour === 'refuse-auth-reset') {
    // pauseOnConnect: nothing is read, so the close finds the request unread.
    net.createServer({ pauseOnConnect: true }, (socket) => socket.write(Buffer.from([5, 2, 1, 1]), () => socket.destroy())).listen(port, ip, () => console.log('ready'));
    return;
  }
  if (behaviour !== 'head-answer') throw new Error(`unknown behaviour ${behaviour}`);
  net
    .createServer((socket) => {
      let head = Buffer.alloc(0);
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end >= 0) socket.end(`HTTP/1.1 200 Connection established\r\n\r\ngot ${end + 4}`);
      });
    })
    .listen(port, ip, () => console.log('ready'));
}

interface HandleSocket extends net.Socket {
  _handle?: { fd?: number } | null;
}

/** A local client that has sent `bytes`, and the accepting end's socket (the forwarder's side, whose descriptor the dial peeks at). */
async function clientThatSent(bytes: string): Promise<{ accepted: HandleSocket; close(): void }> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<HandleSocket>((resolve) => server.once('connection', resolve));
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.write(bytes);
  const socket = await accepted;
  // The bytes are in the accepted socket's receive buffer (loopback delivers them with the write).
  await new Promise((resolve) => setTimeout(resolve, 50));
  return { accepted: socket, close: () => (client.destroy(), socket.destroy(), server.close()) };
}

/** What is left to read on the client's accepting socket (paused: its descriptor was only peeked and taken from). */
function leftOn(socket: HandleSocket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
    socket.resume();
    setTimeout(() => resolve(got), 100);
  });
}

interface DialArgs {
  url: string;
  target: { host: string; port: number };
  blockMs: number;
  early?: string;
  headBytes?: number;
}

/** The addon's dial with one CONNECT head of `bytes` bytes (an X-Pad header fills it). */
function dialLongHead(args: DialArgs, bytes: number): Promise<Record<string, unknown>> {
  const proxy = parseProxyUrl(args.url);
  const start = `CONNECT ${args.target.host}:${args.target.port} HTTP/1.1\r\nX-Pad: `;
  const head = Buffer.from(`${start}${'p'.repeat(Math.max(0, bytes - start.length - 4))}\r\n\r\n`, 'latin1');
  return new Promise((resolve) => {
    dialNative(proxy.host, proxy.port, [{ request: head, kind: 2, expect0: -1, expect1: -1 }], 3_000, (failure, fd, leftover) => {
      if (failure !== null) return resolve({ ok: false, message: `${failure.what} errno ${failure.errno} at stage ${failure.stage}` });
      closeFd(fd);
      resolve({ ok: true, leftover: leftover?.toString() ?? '', sent: head.length });
    }, { fastOpen: true });
  });
}

async function dialOnce(args: DialArgs): Promise<Record<string, unknown>> {
  if (args.headBytes !== undefined) return dialLongHead(args, args.headBytes);
  const client = args.early === undefined ? null : await clientThatSent(args.early);
  try {
    const clientFd = client?.accepted._handle?.fd ?? -1;
    const options = { timeoutMs: 3_000, allowHalfOpen: true, handshake: client === null ? ('pipelined' as const) : ('early-data' as const) };
    const outcome = dialUpstream(parseProxyUrl(args.url), args.target, options, null, { fastOpen: true, clientFd });
    const until = Date.now() + args.blockMs;
    while (Date.now() < until);
    try {
      const upstream = await outcome;
      if (!isNativeUpstream(upstream)) throw new Error('dialed by the JavaScript dialer: not the native dial');
      closeFd(upstream.fd);
      const clientLeft = client === null ? '' : await leftOn(client.accepted);
      return { ok: true, leftover: upstream.leftover?.toString() ?? '', earlyBytes: upstream.earlyBytes, clientLeft };
    } catch (error) {
      if (!(error instanceof DialError)) throw error;
      return { ok: false, step: error.step, message: error.message };
    }
  } finally {
    client?.close();
  }
}

async function main(): Promise<void> {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'server') return serve(rest[0]!, Number(rest[1]), rest[2]!);
  if (mode !== 'dial') throw new Error('usage: fast-open-peers.ts server <ip> <port> <behaviour> | dial <json>');
  const args = JSON.parse(rest[0]!) as DialArgs;
  await dialOnce({ ...args, blockMs: 0 });
  console.log(JSON.stringify(await dialOnce(args)));
}

main().then(
  // A server runs until it is stopped; a dial is done once it has printed.
  () => process.argv[2] === 'dial' && process.exit(0),
  (error: Error) => {
    console.error(`fast-open-peers: ${error.message}`);
    process.exit(1);
  },
);
