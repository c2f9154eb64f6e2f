import { lookup } from 'node:dns/promises';
import { type Ipv4, ipv4Schema } from '@pgw/domain';

const TIMEOUT_MS = 2_000;

/** Resolves proxy hostnames to IPv4 addresses (strict OUTPUT needs them); a host that fails maps to none. */
export async function resolveHosts(hosts: readonly string[]): Promise<Map<string, Ipv4[]>> {
  const names = [...new Set(hosts)].filter((h) => !ipv4Schema.safeParse(h).success);
  const entries = await Promise.all(
    names.map(async (host): Promise<[string, Ipv4[]]> => {
      try {
        const found = await Promise.race([
          lookup(host, { all: true, family: 4 }),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), TIMEOUT_MS).unref()),
        ]);
        return [host, found.flatMap((a) => (ipv4Schema.safeParse(a.address).success ? [a.address as Ipv4] : []))];
      } catch {
        return [host, []];
      }
    }),
  );
  return new Map(entries);
}
