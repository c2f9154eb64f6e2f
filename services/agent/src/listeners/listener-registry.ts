import type { GatewayPolicy, PolicyClient, Port } from '@pgw/domain';
import type { SocketDescription } from '@pgw/original-dst';
import type { PolicyBuild } from '../policy/build-policy.js';

/** The syscalls the registry needs (the native addon and /proc in production, fakes in its spec). */
export interface ListenerSyscalls {
  /** A listening 127.0.0.1:port socket; throws with `code` EADDRINUSE when another socket holds the port. */
  listen(port: number): number;
  describe(fd: number): SocketDescription;
  /** IP_TRANSPARENT and the agent's mark on an adopted socket: nft's tproxy places connections only on transparent listeners. */
  makeTransparent(fd: number): void;
  close(fd: number): void;
  /** The creator uids of the sockets bound to the port (see listener-proc.ts). */
  uidsBoundToPort(port: number): number[];
}

export interface RefusedClient {
  readonly mappingId: number;
  readonly port: Port;
  readonly reason: string;
}

export interface HeldPolicy {
  /** The policy with every client whose port has no socket of ours blocked as port_refused (never DNAT-ed). */
  readonly policy: GatewayPolicy;
  readonly refused: readonly RefusedClient[];
}

export type Grant = { readonly fd: number } | { readonly reason: string };

/**
 * How long a root socket may keep a port from the agent before the reason names what it likely
 * is: the forwarder hands its copy back within a run of being asked (handback_wanted), so one it
 * still has not is most likely a root daemon's (which the registry cannot tell from the forwarder's
 * copy: both are root's sockets).
 */
export const AWAIT_HANDBACK_MS = 10_000;

/**
 * The listening sockets of the forwarder's ports, created and held by the agent so that no other
 * local user can bind a mapped port (whether the forwarder runs or not) and so that they outlive
 * forwarder restarts. Order: a port's socket exists before its DNAT rule (hold() runs before the
 * apply) and is closed only after the rule is gone (release() runs after it).
 *
 * A port that cannot be bound is never DNAT-ed: its client is blocked (port_refused) until the
 * agent holds a socket for it. After an agent restart that is the forwarder's handback of the
 * socket it kept (created by the previous agent, so owned by root); any other holder (uid) is named
 * in the reason.
 */
export class ListenerRegistry {
  /** Port -> the descriptor of our listening socket. */
  private readonly held = new Map<number, number>();
  /** Ports of the last hold() that were not refused: the ones the forwarder may get. */
  private granted = new Set<number>();
  /** Every client port of the last hold(): the ones whose handed-back socket may be adopted. */
  private candidates = new Set<number>();
  /**
   * Each client object a hold() blocked itself -> that client as the hold's input had it. By object,
   * not by the last hold: a state file is written after its run, when a later run may have held.
   */
  private readonly ownRefusals = new WeakMap<PolicyClient, PolicyClient>();
  /** Ports a root socket kept us from binding at the last hold() (or grant since), not adopted since. */
  private awaiting = new Set<number>();
  /** Since when (the clock's ms) each port has awaited a handback without a break. */
  private readonly awaitingSince = new Map<number, number>();
  private last: { input: GatewayPolicy; output: HeldPolicy } | null = null;
  private lastBuild: { input: PolicyBuild; output: PolicyBuild } | null = null;

  constructor(
    private readonly sys: ListenerSyscalls,
    private readonly trustedUids: ReadonlySet<number>,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The policy of the last hold(), its refusals applied (null before the first): who the UDP socket server serves. */
  get policy(): GatewayPolicy | null {
    return this.last?.output.policy ?? null;
  }

  /**
   * Ports of the last hold() that a root socket holds, not the agent's: the forwarder's copy of a
   * socket the agent let go of (a mapping moved away and back while the forwarder lagged), or a
   * restarted agent's before the handback. The forwarder hands such a socket back only when asked
   * or when it reconnects; until then the client stays blocked.
   */
  awaitingHandback(): number[] {
    return [...this.awaiting].sort((a, b) => a - b);
  }

  /** Ports whose socket the agent holds. */
  heldPorts(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /**
   * Before applying `policy`: makes sure every client port has a socket of ours. Returns the very
   * same policy object when nothing is refused, and the same result object for the same input
   * and the same refusals, so an unchanged snapshot stays unchanged for the reconciler.
   */
  hold(policy: GatewayPolicy): HeldPolicy {
    const refused: RefusedClient[] = [];
    const granted = new Set<number>();
    this.awaiting = new Set();
    this.candidates = new Set(policy.clients.map((c) => c.port));
    for (const client of policy.clients) {
      // Refused by the agent's port checks (a service port, outside the window, ...): never bound.
      if (client.blocked === 'port_refused') continue;
      const reason = this.ensure(client.port);
      if (reason === null) granted.add(client.port);
      else refused.push({ mappingId: client.mappingId, port: client.port, reason });
    }
    this.granted = granted;
    // A wait that ended (bound, adopted, the client gone) starts again from its own beginning.
    for (const port of this.awaitingSince.keys()) if (!this.awaiting.has(port)) this.awaitingSince.delete(port);
    const last = this.last;
    if (last !== null && last.input === policy && sameRefusals(last.output.refused, refused)) return last.output;
    const refusedPorts = new Set(refused.map((r) => r.port));
    const refuse = (client: PolicyClient): PolicyClient => {
      if (!refusedPorts.has(client.port)) return client;
      const blocked = { ...client, blocked: 'port_refused' as const };
      this.ownRefusals.set(blocked, client);
      return blocked;
    };
    const output: HeldPolicy = refused.length === 0 ? { policy, refused } : { policy: { ...policy, clients: policy.clients.map(refuse) }, refused };
    this.last = { input: policy, output };
    return output;
  }

  /**
   * hold() for a reconciler snapshot: refused clients join the build's port refusals (the status
   * and the console show them with their reason). The same build comes back while nothing changes.
   */
  holdBuild(build: PolicyBuild): PolicyBuild {
    const held = this.hold(build.policy);
    if (held.policy === build.policy) return build;
    const cached = this.lastBuild;
    if (cached !== null && cached.input === build && cached.output.policy === held.policy) return cached.output;
    const ipOf = new Map(build.policy.clients.map((c) => [c.mappingId, c.ip]));
    const refusals = held.refused.map(({ mappingId, reason }) => ({ subject: `mapping ${mappingId} (${ipOf.get(mappingId)})`, reason }));
    const output: PolicyBuild = { ...build, policy: held.policy, refusals: [...build.refusals, ...refusals] };
    this.lastBuild = { input: build, output };
    return output;
  }

  /**
   * `policy` (the one in force) as the state file keeps it: every client a hold() of this registry
   * refused as that hold's input had it. Our refusal is a fact of this process (a socket the
   * forwarder has not handed back yet, a port another user holds now), not of the policy: saved, the
   * next agent's hold() took it for a port check's `port_refused`, bound nothing for it, and its
   * release() closed the very socket the forwarder handed back (every client blocked until the
   * forwarder restarted). The next agent judges the sockets anew.
   */
  withoutOwnRefusals(policy: GatewayPolicy): GatewayPolicy {
    if (!policy.clients.some((client) => this.ownRefusals.has(client))) return policy;
    return { ...policy, clients: policy.clients.map((client) => this.ownRefusals.get(client) ?? client) };
  }

  /**
   * After an apply: closes the sockets of ports that neither the policy in force (its clients the
   * port checks refused aside) nor the last hold() uses. Before the first hold() (every run failed
   * so far) it closes nothing: what it holds then
   * are the forwarder's handed-back sockets, judged against the first desired state.
   */
  release(inForce: GatewayPolicy | null): number[] {
    if (this.last === null) return [];
    const keep = new Set(this.granted);
    // A port the checks refused (in hold()'s input: a service port, reserved since, outside the
    // window) is DNAT-ed by no rule: its socket goes, freeing the port for its owner. Not one that
    // hold() itself refused (its bind failed: the forwarder's handback of it may be coming).
    const refusedByChecks = new Set(this.last.input.clients.filter((c) => c.blocked === 'port_refused').map((c) => c.port));
    for (const client of inForce?.clients ?? []) if (!refusedByChecks.has(client.port)) keep.add(client.port);
    const closed: number[] = [];
    for (const [port, fd] of this.held) {
      if (keep.has(port)) continue;
      this.held.delete(port);
      this.sys.close(fd);
      closed.push(port);
    }
    return closed;
  }

  /** A forwarder asks for a port's socket: only ports of the agent's validated desired state get one. */
  grant(port: number): Grant {
    if (!this.granted.has(port)) return { reason: `port ${port} is not in the agent's desired state` };
    const reason = this.ensure(port);
    return reason === null ? { fd: this.held.get(port)! } : { reason };
  }

  /**
   * A forwarder hands back a socket it holds (after an agent restart). Adopted only when it is a
   * listening TCP socket on 127.0.0.1:port without SO_REUSEPORT, for a client port of the last
   * snapshot (also one blocked because this very socket held it); otherwise it is closed. Returns
   * null when the agent now holds the port, else the reason. The next hold() unblocks the client.
   * Before the first snapshot (no state file, Postgres not read yet) every such socket is adopted:
   * refused, it stayed bound by the forwarder's own descriptor, so the agent could never bind its
   * port and that client stayed blocked until the forwarder restarted. The first apply's release()
   * closes the ones its policy does not use.
   */
  adopt(port: number, fd: number): string | null {
    if (this.held.has(port)) {
      // The same socket (a port cannot have two listeners without SO_REUSEPORT): keep ours.
      this.sys.close(fd);
      return null;
    }
    let problem: string | null;
    try {
      problem = this.last === null || this.candidates.has(port) ? describeProblem(this.sys.describe(fd), port) : `port ${port} is not in the agent's desired state`;
    } catch (error) {
      problem = `cannot inspect the descriptor: ${(error as Error).message}`;
    }
    if (problem === null) {
      try {
        // A socket of an agent from before TPROXY mode or the mark: made like the ones created now.
        this.sys.makeTransparent(fd);
      } catch (error) {
        problem = `cannot make it transparent: ${(error as Error).message}`;
      }
    }
    if (problem !== null) {
      this.sys.close(fd);
      return problem;
    }
    this.held.set(port, fd);
    this.awaiting.delete(port);
    return null;
  }

  /** null: the port has a socket of ours. Otherwise why not. */
  private ensure(port: number): string | null {
    if (this.held.has(port)) return null;
    try {
      this.held.set(port, this.sys.listen(port));
      return null;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code !== 'EADDRINUSE') return `port ${port}: cannot listen: ${(error as Error).message}`;
    }
    const uids = this.sys.uidsBoundToPort(port);
    // Root's socket is the previous agent's, kept by the forwarder (only root creates uid-0 sockets).
    if (uids.length > 0 && uids.every((uid) => this.trustedUids.has(uid))) {
      this.awaiting.add(port);
      const since = this.awaitingSince.get(port) ?? this.now();
      this.awaitingSince.set(port, since);
      if (this.now() - since < AWAIT_HANDBACK_MS) return `port ${port} awaits the forwarder's handback of its socket`;
      return `port ${port} is held by a root socket the forwarder has not handed back in ${AWAIT_HANDBACK_MS / 1000} s: a root daemon listening on it? Stop it, or list the port in PGW_RESERVED_PORTS so that no mapping uses it`;
    }
    const others = [...new Set(uids.filter((uid) => !this.trustedUids.has(uid)))];
    return `blocked: port ${port} held by another socket${others.length > 0 ? ` (uid ${others.join(', ')})` : ''}`;
  }
}

function describeProblem(d: SocketDescription, port: number): string | null {
  if (!d.isSocket) return 'not a socket';
  if (!d.tcp) return 'not a TCP socket';
  if (!d.listening) return 'not listening';
  if (d.reusePort) return 'SO_REUSEPORT is set (another socket of the same uid could share the port)';
  if (d.family !== 4 || d.address !== '127.0.0.1' || d.port !== port) return `bound to ${d.address}:${d.port}, not 127.0.0.1:${port}`;
  return null;
}

function sameRefusals(a: readonly RefusedClient[], b: readonly RefusedClient[]): boolean {
  return a.length === b.length && a.every((r, i) => r.mappingId === b[i]!.mappingId && r.port === b[i]!.port && r.reason === b[i]!.reason);
}
