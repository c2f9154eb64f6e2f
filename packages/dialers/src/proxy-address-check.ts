// Applies DialOptions.checkProxyAddress to the proxy's address before any packet is sent to it:
// directly for a literal host, and through net.connect's `lookup` hook for a name, so that the
// address actually dialed is the one checked (no second resolution that could answer otherwise).
import type dns from 'node:dns';
import net from 'node:net';
import { DialError } from './dial-error.js';
import { sharedLookup } from './shared-lookup.js';
import type { ProxyAddressCheck } from './types.js';

type LookupFunction = NonNullable<net.TcpSocketConnectOpts['lookup']>;

/** One lookup function per check function: a dial allocates nothing for it. */
const lookups = new WeakMap<ProxyAddressCheck, LookupFunction>();

/** What `check` finds wrong with a literal proxy host, or null (also null for a name: see guardedLookup). */
export function literalHostProblem<P extends { readonly message: string }>(host: string, check: (address: string) => P | null): P | null {
  return net.isIP(host) === 0 ? null : check(host);
}

/** The refusal of a literal proxy host, or null (also null for a name: see guardedLookup). */
export function refuseLiteralHost(host: string, check: ProxyAddressCheck): DialError | null {
  const problem = literalHostProblem(host, check);
  return problem === null ? null : new DialError('proxy_forbidden', problem.message, { cause: problem });
}

/** A dns.lookup (shared: sharedLookup) that fails with a DialError when any resolved address is refused. */
export function guardedLookup(check: ProxyAddressCheck): LookupFunction {
  let lookup = lookups.get(check);
  if (lookup === undefined) {
    lookup = ((hostname: string, options: dns.LookupOptions, callback: (error: Error | null, address: string | dns.LookupAddress[], family?: number) => void) => {
      sharedLookup(hostname, options, (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => {
        if (error) return callback(error, address, family);
        for (const entry of Array.isArray(address) ? address : [{ address, family: family ?? 0 }]) {
          const problem = check(entry.address);
          if (problem !== null) {
            return callback(new DialError('proxy_forbidden', `${hostname} resolves to ${entry.address}: ${problem.message}`, { cause: problem }), address, family);
          }
        }
        callback(null, address, family);
      });
    }) as LookupFunction;
    lookups.set(check, lookup);
  }
  return lookup;
}
