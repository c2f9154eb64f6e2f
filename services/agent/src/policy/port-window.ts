import type { Listener } from './proc-net.js';

/**
 * Which ports the agent may DNAT LAN clients to. The settings' window is an admin's word; the
 * agent checks it against the host it runs on, because a DNAT to a port of another local
 * service hands that client the service (pgw's own metrics, an operator's daemon), and a
 * forwarder port inside the kernel's ephemeral range can be taken by any outgoing connection.
 */
export interface PortFacts {
  /** net.ipv4.ip_local_port_range of the gateway's namespace. */
  readonly localPortRange: { readonly min: number; readonly max: number };
  /** Ports of pgw's own services and any the operator reserved: port -> what it is. */
  readonly reserved: ReadonlyMap<number, string>;
  /** Ports on which a socket other than the forwarder's listens: port -> whose. */
  readonly foreignListeners: ReadonlyMap<number, string>;
}

export interface PortWindow {
  readonly min: number;
  readonly max: number;
}

/** Below this, ports are privileged (sshd, DNS, DHCP, ...): never a forwarder port. */
export const LOWEST_FORWARDER_PORT = 1024;

const overlaps = (a: PortWindow, b: PortWindow) => a.min <= b.max && b.min <= a.max;

/** Why the window itself is unacceptable, or null. */
export function windowRefusal(window: PortWindow, facts: PortFacts): string | null {
  const name = `forwarder port window ${window.min}-${window.max}`;
  if (window.min > window.max) return `${name} is empty`;
  if (window.min < LOWEST_FORWARDER_PORT) return `${name} reaches below ${LOWEST_FORWARDER_PORT}`;
  const local = facts.localPortRange;
  if (overlaps(window, local)) return `${name} overlaps ip_local_port_range ${local.min}-${local.max}`;
  return null;
}

/** Why a mapping's port must not be DNAT-ed to, or null. Checked whatever the window says. */
export function portRefusal(port: number, window: PortWindow, facts: PortFacts): string | null {
  const local = facts.localPortRange;
  const why =
    port < LOWEST_FORWARDER_PORT
      ? `is below ${LOWEST_FORWARDER_PORT}`
      : port >= local.min && port <= local.max
        ? `is inside ip_local_port_range ${local.min}-${local.max}`
        : facts.reserved.has(port)
          ? `is ${facts.reserved.get(port)}`
          : port < window.min || port > window.max
            ? `is outside the forwarder window ${window.min}-${window.max}`
            : facts.foreignListeners.has(port)
              ? `has ${facts.foreignListeners.get(port)}`
              : null;
  return why === null ? null : `port refused (${port} ${why})`;
}

/**
 * The addresses of a listener that takes what is sent to 127.0.0.1:<port> (where DNAT and TPROXY
 * put a client: the agent's listener) or that keeps that address from being bound: itself, and the
 * wildcards (`::` may be dual-stack; /proc does not say whether it is IPv6 only).
 */
const OVER_LOOPBACK_PORT = new Set(['127.0.0.1', '0.0.0.0', '::', '::ffff:127.0.0.1', '::ffff:0.0.0.0']);

/**
 * Listening sockets of a uid other than root's and the forwarder's. A port with any such socket
 * would hand the client, or the forwarder's bind, to someone else. Root's are the listener
 * registry's to judge: the agent's own, or the previous agent's that the forwarder keeps until
 * its handback, which the registry adopts (any other root socket keeps the registry from binding
 * the port: its client stays blocked). Judged here by inode, the handed-back socket was foreign
 * until the facts were read again, and a run in between refused its port as a check would and
 * closed the socket just adopted, while the forwarder's copy kept the port: every such client
 * blocked until the forwarder restarted. Only those on 127.0.0.1 or a wildcard: any local user
 * may listen on the same port of another address (another loopback address, the LAN address,
 * ::1), which no client reaches, and counting those let that user have any client blocked for as
 * long as the socket stayed open.
 */
export function foreignListeners(listeners: readonly Listener[], forwarderUid: number): Map<number, string> {
  const foreign = new Map<number, string>();
  for (const l of listeners) {
    if (!OVER_LOOPBACK_PORT.has(l.address) || l.uid === forwarderUid || l.uid === 0 || foreign.has(l.port)) continue;
    foreign.set(l.port, `a listening socket of uid ${l.uid}, not the forwarder`);
  }
  return foreign;
}
