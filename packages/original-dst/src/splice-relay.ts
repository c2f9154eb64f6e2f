import type { Socket } from 'node:net';
import { binding } from './binding.js';
import { onDuplicates } from './duplicates.js';
import type { SpliceClosed, SplicedRelay } from './native-types.js';
import { socketDescriptor } from './socket-state.js';

function plainFd(socket: Socket): number | null {
  // A TLS socket's handle has no fd: its bytes must go through OpenSSL, hence through JavaScript.
  const fd = socketDescriptor(socket);
  return fd >= 0 ? fd : null;
}

let probed = false;
let unavailable: string | null = null;

/**
 * null when this kernel and process may splice(2) (asked once, at the first call), else why not:
 * an old kernel, or a seccomp filter that denies it. spliceSockets then declines every hand-over.
 */
export function spliceUnavailable(): string | null {
  if (!probed) {
    unavailable = binding.spliceUnavailable();
    probed = true;
  }
  return unavailable;
}

/**
 * Empty pipes kept for the next relays (at most 128 per thread). A relay holds a pipe per
 * direction only while bytes are in it, so an idle relay holds none (native/splice_relay.cc).
 */
export function splicePipesIdle(): number {
  return binding.splicePipesIdle();
}

/**
 * Hands two connected TCP sockets over to a native relay and destroys the net.Sockets (the relay
 * takes duplicates of their descriptors, so destroying them closes nothing on the wire). Bytes
 * Node had already read (a proxy's first tunnel bytes, unshifted by the dialer) are written first.
 * The caller must have removed its own listeners: the sockets emit 'close' once destroyed.
 *
 * Returns null, touching nothing, when the sockets cannot be handed over: splice(2) unavailable
 * here, not plain TCP, or writes still queued in Node. The caller then relays in JavaScript.
 */
export function spliceSockets(client: Socket, upstream: Socket, idleTimeoutMs: number, onClosed: SpliceClosed): SplicedRelay | null {
  if (spliceUnavailable() !== null) return null;
  const clientFd = plainFd(client);
  const upstreamFd = plainFd(upstream);
  if (clientFd === null || upstreamFd === null) return null;
  if (client.writableLength > 0 || upstream.writableLength > 0) return null;
  client.pause();
  upstream.pause();
  const toClient = takeBuffered(upstream);
  const toUpstream = takeBuffered(client);
  const relay = onDuplicates([clientFd, upstreamFd], ([clientCopy, upstreamCopy]) => new binding.SpliceRelay(clientCopy!, upstreamCopy!, idleTimeoutMs, toClient, toUpstream, onClosed));
  if (relay === null) {
    // Out of descriptors, mostly: the sockets are still whole, with their bytes put back.
    if (toClient !== undefined) upstream.unshift(toClient);
    if (toUpstream !== undefined) client.unshift(toUpstream);
    return null;
  }
  // Errors of a socket being destroyed are of no interest any more (the relay owns the connection).
  client.on('error', ignore);
  upstream.on('error', ignore);
  client.destroy();
  upstream.destroy();
  return relay;
}

/**
 * As spliceSockets for a client that is a bare descriptor (from acceptTcp: nothing of it was read
 * into Node). On success the relay owns the connection: `clientFd` is the relay's, and the
 * upstream net.Socket destroyed (the relay took a duplicate). null, touching nothing, as spliceSockets.
 */
export function spliceDescriptor(clientFd: number, upstream: Socket, idleTimeoutMs: number, onClosed: SpliceClosed): SplicedRelay | null {
  if (spliceUnavailable() !== null) return null;
  const upstreamFd = plainFd(upstream);
  if (upstreamFd === null || upstream.writableLength > 0) return null;
  upstream.pause();
  const toClient = takeBuffered(upstream);
  const relay = onDuplicates([upstreamFd], ([upstreamCopy]) => new binding.SpliceRelay(clientFd, upstreamCopy!, idleTimeoutMs, toClient, undefined, onClosed));
  if (relay === null) {
    if (toClient !== undefined) upstream.unshift(toClient);
    return null;
  }
  upstream.on('error', ignore);
  upstream.destroy();
  return relay;
}

/**
 * As spliceDescriptor for an upstream that is a bare descriptor too (from a native dial):
 * `toClient` (the proxy's bytes after its answer) is written to the client first. On success the
 * relay owns the connection and both descriptors (no duplicates); null as spliceSockets, the
 * descriptors still the caller's and no longer watched by the addon (ready for a net.Socket).
 */
export function spliceDescriptors(clientFd: number, upstreamFd: number, idleTimeoutMs: number, toClient: Buffer | undefined, onClosed: SpliceClosed): SplicedRelay | null {
  let relay: SplicedRelay | null = null;
  if (spliceUnavailable() === null) {
    try {
      relay = new binding.SpliceRelay(clientFd, upstreamFd, idleTimeoutMs, toClient, undefined, onClosed);
    } catch {
      relay = null;
    }
  }
  if (relay === null) {
    // The descriptors go to net.Sockets: the addon's reactor lets go of them.
    binding.unwatchFd(clientFd);
    binding.unwatchFd(upstreamFd);
  }
  return relay;
}

function takeBuffered(socket: Socket): Buffer | undefined {
  if (socket.readableLength === 0) return undefined;
  return socket.read(socket.readableLength) as Buffer;
}

function ignore(): void {}
