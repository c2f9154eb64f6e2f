import { IFB_DEVICE } from '../shaping/render-shaping.js';

/** Names that are valid in sysctl paths (`net.ipv4.conf.<name>`) but mean every interface there. */
const PSEUDO = new Set(['all', 'default']);

/**
 * Why an interface setting is unusable on this gateway, or null. The api checks syntax; only the
 * agent sees the namespace it enforces in. A LAN interface `lo` would DNAT the gateway's own
 * loopback traffic and switch route_localnet on for it; `all`/`default` would write sysctls of
 * every interface; a missing name would leave nft matching nothing (clients unfiltered on the
 * real LAN interface); pgw's own IFB device would shape and bind to itself.
 */
export function interfaceRefusal(setting: string, name: string, present: ReadonlySet<string>): string | null {
  if (PSEUDO.has(name)) return `${setting} "${name}" is not an interface (it names every interface in sysctl)`;
  if (name === 'lo') return `${setting} "${name}" is the loopback interface`;
  // The shaper redirects every client's upload there, and deletes it with the last limit.
  if (name === IFB_DEVICE) return `${setting} "${name}" is pgw's own shaping device, not the LAN or the uplink`;
  if (!present.has(name)) return `${setting} "${name}" does not exist on this gateway`;
  return null;
}
