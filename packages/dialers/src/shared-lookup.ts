// One getaddrinfo per proxy name at a time, whoever asks. dns.lookup runs in libuv's thread pool
// (4 threads, shared by the whole service): a name whose resolver answers slowly took one thread
// per dial, the pool filled, and every other proxy name's lookup (and the service's file I/O)
// waited behind it; the forwarder's clients of other proxies timed out, health took their proxies
// down. Dials of one name now share the lookup in flight; nothing is cached past its answer, so a
// changed record is seen at the next dial as before.
import dns from 'node:dns';

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** The callers waiting for each lookup in flight, by name and options. */
const inFlight = new Map<string, LookupCallback[]>();

/** dns.lookup, shared with the lookup of the same name and options already in flight. */
export function sharedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  const key = `${options.family ?? 0} ${options.hints ?? 0} ${options.all === true} ${options.verbatim ?? ''} ${hostname}`;
  const waiting = inFlight.get(key);
  if (waiting !== undefined) {
    waiting.push(callback);
    return;
  }
  const callbacks = [callback];
  inFlight.set(key, callbacks);
  try {
    dns.lookup(hostname, options, (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => {
      inFlight.delete(key);
      // Each caller its own list: net's connect keeps the one it is given.
      for (const waiter of callbacks) waiter(error, Array.isArray(address) ? address.slice() : address, family);
    });
  } catch (error) {
    // Refused before it started (options dns.lookup does not take): no later dial may wait for it.
    inFlight.delete(key);
    throw error;
  }
}
