// The probe's stand-in socket for SOCKS5 early data (handshake early-data). A client that speaks
// first (an HTTP request, a TLS ClientHello) writes its first flight before any tunnel exists; it
// is held here so that the dial can send it with the CONNECT, as the forwarder sends a client's
// first bytes. Once the tunnel is attached the stand-in carries bytes both ways, so Node's http
// client and TLS run on it unchanged, over plain HTTP and HTTPS alike. Put in front of a tunnel
// that already exists, it times that tunnel's first byte (answered).
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

const FIRST = Symbol('pgw.health.firstFlight');

interface TunnelSocket extends Socket {
  [FIRST]?: FirstFlightSocket;
}

export class FirstFlightSocket extends Duplex {
  /** Resolves with the first flight: what was written in the tick of the first write; rejects if destroyed before. */
  readonly firstFlight: Promise<Buffer>;
  /** Resolves when the tunnel's first byte arrives (the answer to the early data). */
  readonly answered: Promise<void>;
  private held: Buffer[] = [];
  private taken = false;
  /** end() came before the tunnel: the tunnel is ended once attached. */
  private ended = false;
  private tunnel: TunnelSocket | null = null;
  private resolveFlight!: (flight: Buffer) => void;
  private rejectFlight!: (error: Error) => void;
  private resolveAnswered!: () => void;

  constructor() {
    super({ allowHalfOpen: true });
    this.firstFlight = new Promise((resolve, reject) => {
      this.resolveFlight = resolve;
      this.rejectFlight = reject;
    });
    // Whoever awaits it sees the rejection; an unawaited one is not an unhandled rejection.
    this.firstFlight.catch(() => undefined);
    this.answered = new Promise((resolve) => (this.resolveAnswered = resolve));
  }

  /** The tunnel the first flight went out on: later writes go to it, its bytes come out here. */
  attach(tunnel: Socket): void {
    if (this.destroyed) return void tunnel.destroy();
    const socket = tunnel as TunnelSocket;
    socket[FIRST] = this;
    this.tunnel = socket;
    socket.on('data', onTunnelData);
    socket.on('end', onTunnelEnd);
    socket.on('error', onTunnelError);
    // Written after the first flight was taken, before the tunnel existed.
    for (const chunk of this.held) socket.write(chunk);
    this.held = [];
    if (this.ended) socket.end();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.tunnel !== null) {
      this.tunnel.write(chunk, callback);
      return;
    }
    if (!this.taken && this.held.length === 0) setImmediate(takeFlight, this);
    this.held.push(chunk);
    callback();
  }

  override _read(): void {
    this.tunnel?.resume();
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.tunnel === null) {
      this.ended = true;
      return callback();
    }
    this.tunnel.end(callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A no-op once resolved.
    this.rejectFlight(error ?? new Error('closed before the first write'));
    this.tunnel?.destroy();
    callback(error);
  }

  /** @internal */
  flightTaken(): void {
    this.taken = true;
    const flight = Buffer.concat(this.held);
    this.held = [];
    this.resolveFlight(flight);
  }

  /** @internal */
  tunnelData(chunk: Buffer): void {
    this.resolveAnswered();
    if (!this.push(chunk)) this.tunnel!.pause();
  }
}

function takeFlight(socket: FirstFlightSocket): void {
  socket.flightTaken();
}

function onTunnelData(this: TunnelSocket, chunk: Buffer): void {
  this[FIRST]!.tunnelData(chunk);
}

function onTunnelEnd(this: TunnelSocket): void {
  this[FIRST]!.push(null);
}

function onTunnelError(this: TunnelSocket, error: Error): void {
  this[FIRST]!.destroy(error);
}
