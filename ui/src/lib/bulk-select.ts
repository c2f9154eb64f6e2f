import { MAPPING_TAG } from '@pgw/domain/tags';
import type { Mapping } from '../api/types.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const toInt = (ip: string) => ip.split('.').reduce((acc, octet) => ((acc << 8) | Number(octet)) >>> 0, 0);
/**
 * An IPv4 network as [base, mask], or null. Here rather than @pgw/domain's net.ts, which the console
 * cannot bundle (it uses node:net); the same rule: canonical address, prefix 0-32, host bits zero.
 */
function parseCidr(text: string): [number, number] | null {
  const [ip, bits, ...rest] = text.split('/');
  if (rest.length > 0 || !ip || !IPV4.test(ip) || (bits !== undefined && !/^\d{1,2}$/.test(bits))) return null;
  const prefix = bits === undefined ? 32 : Number(bits);
  if (prefix > 32) return null;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (toInt(ip) & mask) >>> 0 === toInt(ip) ? [toInt(ip), mask] : null;
}

/**
 * Selecting mappings for a bulk action (issue 17): by tag or by CIDR, over every mapping (not only
 * the rows the filter shows). Each returns the ids, or a message saying what to type instead.
 */
export function idsByTag(rows: readonly Mapping[], tag: string): number[] | string {
  const t = tag.trim();
  if (!MAPPING_TAG.test(t)) return 'a tag is 1-32 lower-case letters, digits, ".", "_" or "-"';
  return rows.filter((m) => m.tags?.includes(t)).map((m) => m.id);
}

export function idsInCidr(rows: readonly Mapping[], cidr: string): number[] | string {
  const net = parseCidr(cidr.trim());
  if (!net) return 'a network like 192.168.2.0/24 (host bits zero) or one address';
  return rows.filter((m) => ((toInt(m.clientIp) & net[1]) >>> 0) === net[0]).map((m) => m.id);
}
