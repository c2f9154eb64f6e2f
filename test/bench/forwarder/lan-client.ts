/**
 * LAN-side TCP client for the forwarder's e2e tests and benchmark, run inside the lab's LAN
 * namespace (`ip netns exec <lan> node --import tsx lan-client.ts`). Commands arrive as JSON
 * lines on stdin, answers leave as JSON lines on stdout with the command's id. Every operation
 * is bounded by a timeout, so a broken relay fails a test instead of hanging it.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

interface Base {
  id: number;
  src: string;
  host: string;
  port: number;
  timeoutMs?: number;
}

export type LanCommand =
  /**
   * Sends `bytes` bytes and expects exactly the same bytes back from an echo server. With
   * halfClose it sends FIN right after the data and reads until the server's FIN; without, it
   * closes once everything came back.
   */
  | (Base & { op: 'echo'; bytes: number; halfClose?: boolean })
  /** Opens a connection, checks one echo round trip and keeps it; a later 'closed' event reports its end. */
  | (Base & { op: 'hold'; key: string })
  /** One more echo round trip on a held connection: it still carries data both ways. */
  | { id: number; op: 'ping'; key: string; timeoutMs?: number }
  /** Closes held connections (cleanup). */
  | { id: number; op: 'release'; keys: string[] }
  /** Connects `count` times and gives up at once: closes, or resets, right after connecting. */
  | (Base & { op: 'impatient'; count: number; mode: 'close' | 'reset' })
  /**
   * `count` times: connect, send `request`, read until the server closes; `concurrency` at once.
   * Per-try ms. pauseMs: each worker waits that long between its tries (the relay's after-work done).
   */
  | (Base & { op: 'latency'; count: number; concurrency: number; request: string; pauseMs?: number });

export type LanReply =
  | { id: number; ok: true; ms?: number; samples?: number[]; failures?: number; firstError?: string }
  | { id: number; ok: false; error: string }
  | { event: 'closed'; key: string; how: 'end' | 'reset' | 'error'; error?: string };

const held = new Map<string, net.Socket>();

function reply(message: LanReply): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function connect(cmd: Base): net.Socket {
  return net.connect({ host: cmd.host, port: cmd.port, localAddress: cmd.src, noDelay: true });
}

function echo(cmd: Base & { bytes: number; halfClose?: boolean }): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const payload = Buffer.alloc(cmd.bytes);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
    const socket = connect(cmd);
    const received: Buffer[] = [];
    let length = 0;
    socket.setTimeout(cmd.timeoutMs ?? 10_000, () => socket.destroy(new Error(`no progress for ${cmd.timeoutMs ?? 10_000} ms after ${length} bytes back`)));
    const halfClose = cmd.halfClose ?? true;
    const finish = () => {
      socket.destroy();
      const back = Buffer.concat(received);
      if (back.equals(payload)) resolve(performance.now() - started);
      else reject(new Error(`echo mismatch: sent ${payload.length} bytes, got ${back.length} back`));
    };
    socket.on('connect', () => (halfClose ? socket.end(payload) : socket.write(payload)));
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      length += chunk.length;
      if (!halfClose && length >= payload.length) finish();
    });
    socket.on('error', reject);
    socket.on('end', finish);
  });
}

function hold(cmd: Base & { key: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(cmd);
    let settled = false;
    const timer = setTimeout(() => socket.destroy(new Error('no echo in time')), cmd.timeoutMs ?? 5_000);
    socket.on('connect', () => socket.write('ping'));
    socket.once('data', () => {
      clearTimeout(timer);
      settled = true;
      held.set(cmd.key, socket);
      resolve(performance.now() - started);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!settled) return reject(error);
      if (held.delete(cmd.key)) reply({ event: 'closed', key: cmd.key, how: error.code === 'ECONNRESET' ? 'reset' : 'error', error: error.message });
    });
    socket.on('end', () => {
      socket.destroy();
      if (held.delete(cmd.key)) reply({ event: 'closed', key: cmd.key, how: 'end' });
    });
  });
}

function ping(cmd: { key: string; timeoutMs?: number }): Promise<number> {
  const socket = held.get(cmd.key);
  if (!socket) return Promise.reject(new Error(`no held connection ${cmd.key}`));
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const timer = setTimeout(() => {
      socket.removeListener('data', onData);
      reject(new Error(`held connection ${cmd.key}: no echo in ${cmd.timeoutMs ?? 2_000} ms`));
    }, cmd.timeoutMs ?? 2_000);
    const onData = () => {
      clearTimeout(timer);
      resolve(performance.now() - started);
    };
    socket.once('data', onData);
    socket.write('ping');
  });
}

async function impatient(cmd: Base & { count: number; mode: 'close' | 'reset' }): Promise<number> {
  let failures = 0;
  for (let i = 0; i < cmd.count; i++) {
    await new Promise<void>((resolve) => {
      const socket = connect(cmd);
      const timer = setTimeout(() => socket.destroy(), cmd.timeoutMs ?? 2_000);
      socket.on('connect', () => {
        clearTimeout(timer);
        if (cmd.mode === 'reset') socket.resetAndDestroy();
        else socket.destroy();
        resolve();
      });
      socket.on('error', () => {
        failures++;
        clearTimeout(timer);
        resolve();
      });
      socket.on('close', () => resolve());
    });
  }
  return failures;
}

function once(cmd: Base & { request: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(cmd);
    let bytes = 0;
    socket.setTimeout(cmd.timeoutMs ?? 5_000, () => socket.destroy(new Error('timeout')));
    socket.on('connect', () => socket.write(cmd.request));
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('error', reject);
    socket.on('end', () => {
      socket.destroy();
      if (bytes === 0) reject(new Error('closed without a response'));
      else resolve(performance.now() - started);
    });
  });
}

async function latency(cmd: Base & { count: number; concurrency: number; request: string; pauseMs?: number }): Promise<{ samples: number[]; failures: number; firstError?: string }> {
  const samples: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < cmd.count) {
      next++;
      try {
        samples.push(await once(cmd));
      } catch (error) {
        failures++;
        firstError ??= (error as Error).message;
      }
      if (cmd.pauseMs !== undefined && cmd.pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, cmd.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cmd.concurrency) }, worker));
  return { samples, failures, firstError };
}

async function run(cmd: LanCommand): Promise<LanReply> {
  switch (cmd.op) {
    case 'echo':
      return { id: cmd.id, ok: true, ms: await echo(cmd) };
    case 'hold':
      return { id: cmd.id, ok: true, ms: await hold(cmd) };
    case 'ping':
      return { id: cmd.id, ok: true, ms: await ping(cmd) };
    case 'release':
      for (const key of cmd.keys) {
        held.get(key)?.destroy();
        held.delete(key);
      }
      return { id: cmd.id, ok: true };
    case 'impatient':
      return { id: cmd.id, ok: true, failures: await impatient(cmd) };
    case 'latency':
      return { id: cmd.id, ok: true, ...(await latency(cmd)) };
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  createInterface({ input: process.stdin }).on('line', (line) => {
    const cmd = JSON.parse(line) as LanCommand;
    run(cmd).then(reply, (error: Error) => reply({ id: cmd.id, ok: false, error: error.message }));
  });
  process.stdin.on('end', () => process.exit(0));
  reply({ id: 0, ok: true });
}
