import { closeFd } from '@pgw/original-dst';
import type { PortSocket } from './agent-listeners.js';

/** Where the listening sockets come from: the agent creates and holds them (agent-listeners.ts). */
export interface ListenerSource {
  acquire(ports: readonly number[]): Promise<ReadonlyMap<number, PortSocket>>;
}

/** A port whose socket the agent has not sent yet: opened at the run its answer asks for. */
export const PENDING = 'pending';

/**
 * The agent's listening sockets for a run, waited for `waitMs` at most. A run of the forwarder
 * waited for the agent's whole answer (5 s a try, 3 tries with the agent frozen) while the runs
 * after it, a client blocked or disabled among them, waited behind it. What the agent sends later
 * is kept for the next run, which `arrivedLate` asks for; one request at a time.
 */
export class PortSockets {
  private inFlight: { readonly ports: ReadonlySet<number>; readonly done: Promise<void> } | null = null;
  /** Sockets or refusals the agent sent, not yet taken by a run. */
  private readonly arrived = new Map<number, PortSocket>();
  /** A run left ports waiting for another request to end first. */
  private deferred = false;
  /** The ports of the latest run: a socket that arrives for another is closed at once. */
  private wanted: ReadonlySet<number> = new Set();
  private closed = false;

  constructor(
    private readonly source: ListenerSource,
    private readonly waitMs: number,
    private readonly arrivedLate: () => void,
  ) {}

  /**
   * The socket (or the agent's refusal) of each port, or PENDING. Sockets that arrived for ports
   * not asked for any more are closed: this run's ports are all that is wanted now.
   */
  async take(ports: readonly number[]): Promise<Map<number, PortSocket | typeof PENDING>> {
    this.wanted = new Set(ports);
    const missing = ports.filter((port) => !this.arrived.has(port) && !this.inFlight?.ports.has(port));
    if (missing.length > 0) {
      if (this.inFlight === null) this.request(missing);
      else this.deferred = true;
    }
    const inFlight = this.inFlight;
    if (inFlight !== null && ports.some((port) => inFlight.ports.has(port))) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([inFlight.done, new Promise((resolve) => (timer = setTimeout(resolve, this.waitMs)))]);
      clearTimeout(timer);
    }
    const taken = new Map<number, PortSocket | typeof PENDING>();
    for (const port of ports) {
      const socket = this.arrived.get(port);
      this.arrived.delete(port);
      taken.set(port, socket ?? PENDING);
    }
    this.discard();
    return taken;
  }

  /**
   * Port -> descriptor of each socket kept for the next run: a restarted agent must be handed it
   * back as the listeners' (it cannot bind a port this process holds).
   */
  held(): Map<number, number> {
    const held = new Map<number, number>();
    for (const [port, socket] of this.arrived) if ('fd' in socket) held.set(port, socket.fd);
    return held;
  }

  /** Closes the kept sockets of these ports (the agent refused them back: asked for anew). */
  drop(ports: Iterable<number>): void {
    for (const port of ports) {
      const socket = this.arrived.get(port);
      if (socket === undefined) continue;
      if ('fd' in socket) closeFd(socket.fd);
      this.arrived.delete(port);
    }
  }

  /** Every socket not taken is closed, and any that arrives later (the forwarder drains). */
  close(): void {
    this.closed = true;
    this.discard();
  }

  private request(ports: readonly number[]): void {
    const done = this.source
      .acquire(ports)
      .then(
        (got) => {
          for (const [port, socket] of got) this.keep(port, socket);
        },
        (error: Error) => {
          for (const port of ports) this.keep(port, { reason: `the agent did not answer: ${error.message}` });
        },
      )
      .finally(() => {
        this.inFlight = null;
        // After the run that waited for it has taken what it asked for (its await resumes first).
        setImmediate(() => {
          if (this.closed || (this.arrived.size === 0 && !this.deferred)) return;
          this.deferred = false;
          this.arrivedLate();
        });
      });
    this.inFlight = { ports: new Set(ports), done };
  }

  private keep(port: number, socket: PortSocket): void {
    const earlier = this.arrived.get(port);
    if (earlier !== undefined && 'fd' in earlier) closeFd(earlier.fd);
    // Not kept for a port the latest run did not ask for (its mapping moved away): held here, the
    // port could not be bound again by the agent when the mapping comes back.
    if ((this.closed || !this.wanted.has(port)) && 'fd' in socket) return closeFd(socket.fd);
    this.arrived.set(port, socket);
  }

  private discard(): void {
    for (const socket of this.arrived.values()) if ('fd' in socket) closeFd(socket.fd);
    this.arrived.clear();
  }
}
