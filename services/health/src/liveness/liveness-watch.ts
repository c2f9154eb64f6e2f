// One idle TCP connection to one proxy endpoint, kept open to notice the proxy's death without
// client traffic: a proxy process that exits closes it (FIN or RST) and then refuses the
// reconnect; a host that vanishes stops answering keepalive probes. Nothing is ever written on
// the connection, so the proxy sees one idle client (it may close it after its own idle timeout:
// then the reconnect succeeds and nothing is reported).
import net from 'node:net';
import { DialError } from '@pgw/dialers';
import { setTcpKeepalive, type KeepaliveTimers } from '@pgw/original-dst';

export type LivenessLoss = 'refused' | 'closed' | 'silent' | 'connect_timeout' | 'connect_failed';

export interface LivenessTimings {
  /** Bound on one TCP connect to the proxy. */
  readonly connectTimeoutMs: number;
  /** Wait before the next connect after a failed one (the endpoint is already reported lost). */
  readonly retryMs: number;
  /**
   * After two connections in a row that lived shorter than this, the next connect waits retryMs (a
   * proxy that closes at once must not make us spin). The first reconnect is always immediate: it is
   * what tells a dead proxy from one that closed an idle connection.
   */
  readonly minLifetimeMs: number;
  readonly keepalive: KeepaliveTimers;
}

/**
 * Process exit: FIN/RST then refused, in milliseconds (within retryMs when it dies while we are
 * between connections). Silent host: about idle + interval x count = 3 s.
 */
export const DEFAULT_LIVENESS_TIMINGS: LivenessTimings = {
  connectTimeoutMs: 1_000,
  retryMs: 250,
  minLifetimeMs: 1_000,
  keepalive: { idleS: 1, intervalS: 1, count: 2 },
};

export interface LivenessEvents {
  /**
   * The endpoint did not answer: called for every failed attempt, `repeated` after the first one
   * since the last good connection (the status may have come back up by a probe meanwhile).
   */
  lost(loss: LivenessLoss, detail: string, repeated: boolean): void;
  /** A connection succeeded again after a loss. */
  restored(): void;
}

export class LivenessWatch {
  private socket: net.Socket | null = null;
  private timer: NodeJS.Timeout | undefined;
  private connectedAt = 0;
  private shortLivedInARow = 0;
  private reportedLost = false;
  private stopped = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly events: LivenessEvents,
    private readonly timings: LivenessTimings = DEFAULT_LIVENESS_TIMINGS,
    /** Resolves a proxy name through the probe's address check (guardedLookup): the address dialed is the one checked. */
    private readonly lookup?: NonNullable<net.TcpSocketConnectOpts['lookup']>,
  ) {}

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true, ...(this.lookup ? { lookup: this.lookup } : {}) });
    this.socket = socket;
    let lastError: NodeJS.ErrnoException | undefined;
    let connected = false;
    const connectTimer = setTimeout(() => {
      lastError = Object.assign(new Error(`no TCP connection within ${this.timings.connectTimeoutMs} ms`), { code: 'PGW_CONNECT_TIMEOUT' });
      socket.destroy();
    }, this.timings.connectTimeoutMs);
    socket.on('connect', () => {
      clearTimeout(connectTimer);
      connected = true;
      this.connectedAt = Date.now();
      try {
        setTcpKeepalive(socket, this.timings.keepalive);
      } catch (error) {
        lastError = error as NodeJS.ErrnoException;
        socket.destroy();
        return;
      }
      if (this.reportedLost) {
        this.reportedLost = false;
        this.events.restored();
      }
    });
    // Whatever the proxy says unasked is of no interest; reading keeps its FIN visible.
    socket.on('data', () => undefined);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      lastError = error;
    });
    socket.on('close', () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket || this.stopped) return;
      this.socket = null;
      if (connected) this.connectionEnded(lastError);
      else this.connectFailed(lastError);
    });
  }

  /** An established connection ended: a vanished host (keepalive timed out) is lost; otherwise ask again. */
  private connectionEnded(error: NodeJS.ErrnoException | undefined): void {
    if (error?.code === 'ETIMEDOUT') {
      const { idleS, intervalS, count } = this.timings.keepalive;
      this.report('silent', `no answer to ${count} keepalive probes (${idleS + intervalS * count} s of silence)`);
      this.schedule(this.timings.retryMs);
      return;
    }
    const lived = Date.now() - this.connectedAt;
    this.shortLivedInARow = lived < this.timings.minLifetimeMs ? this.shortLivedInARow + 1 : 0;
    this.schedule(this.shortLivedInARow >= 2 ? this.timings.retryMs : 0);
  }

  private connectFailed(error: NodeJS.ErrnoException | undefined): void {
    const code = error?.code ?? 'unknown error';
    if (code === 'ECONNREFUSED') this.report('refused', 'the proxy refused a TCP connection (ECONNREFUSED)');
    else if (code === 'PGW_CONNECT_TIMEOUT') this.report('connect_timeout', error!.message);
    else if (code === 'ECONNRESET' || code === 'EPIPE') this.report('closed', `the connection to the proxy was reset (${code})`);
    else if (error instanceof DialError) this.report('connect_failed', error.message); // the address check refused what the name resolved to
    else this.report('connect_failed', `cannot connect to the proxy (${code})`);
    this.schedule(this.timings.retryMs);
  }

  private report(loss: LivenessLoss, detail: string): void {
    const repeated = this.reportedLost;
    this.reportedLost = true;
    this.events.lost(loss, detail, repeated);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), ms);
  }
}
