import { BlockList, isIP } from 'node:net';
import { shownText } from '@pgw/dialers';

/** An IP-echo answer is small; anything longer is not one (and is not read further). */
export const MAX_ECHO_BODY_BYTES = 4096;

const SHOWN = 60;

/**
 * The exit IP from an IP-echo body: JSON `{"ip":"203.0.113.7"}` or the address as plain text.
 * Throws an Error naming what is wrong, with a printable excerpt of the body.
 */
export function parseEchoBody(body: string): string {
  const text = body.trim();
  let candidate: unknown = text;
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`check URL answered invalid JSON: "${shownText(text, SHOWN)}"`);
    }
    if (typeof parsed !== 'object' || parsed === null || !('ip' in parsed)) {
      throw new Error(`check URL answered JSON without an "ip" field: "${shownText(text, SHOWN)}"`);
    }
    candidate = parsed.ip;
  }
  if (typeof candidate !== 'string' || isIP(candidate) === 0 || candidate.includes('%')) {
    throw new Error(`check URL answer is not an IP address (expected {"ip":"..."} or a plain-text IP): "${shownText(text, SHOWN)}"`);
  }
  const kind = notExit(candidate);
  if (kind !== null) throw new Error(`check URL answered ${candidate}, which is not an exit address (${kind})`);
  return candidate;
}

/**
 * Ranges no packet's source address is in: an answer in one is no exit address (any proxy can
 * answer anything). Loopback and link-local stay: a check URL on the proxy's own host or link.
 */
const NOT_EXIT: readonly (readonly [string, string, number, 'ipv4' | 'ipv6'])[] = [
  ['unspecified', '0.0.0.0', 8, 'ipv4'],
  ['multicast', '224.0.0.0', 4, 'ipv4'],
  ['reserved', '240.0.0.0', 4, 'ipv4'],
  ['unspecified', '::', 128, 'ipv6'],
  ['multicast', 'ff00::', 8, 'ipv6'],
];
const NOT_EXIT_LISTS = NOT_EXIT.map(([kind, network, prefix, family]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { kind, list };
});

function notExit(ip: string): string | null {
  const family = isIP(ip) === 4 ? 'ipv4' : 'ipv6';
  // BlockList matches an IPv4-mapped IPv6 address (::ffff:127.0.0.1) against the IPv4 ranges too.
  return NOT_EXIT_LISTS.find(({ list }) => list.check(ip, family))?.kind ?? null;
}
