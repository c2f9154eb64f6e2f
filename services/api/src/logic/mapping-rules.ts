import { cidrContains, type Ipv4, ipv4Schema, type MacAddress, networkEndOf, macAddressSchema, quotaBytesSchema, rateKbitSchema, type Settings } from '@pgw/domain';
import { invalid } from './domain-errors.js';

/** A client IP must be a usable host address inside the LAN (not its network or broadcast address). */
export function validClientIp(value: string, settings: Pick<Settings, 'lanCidr'>, field = 'clientIp'): Ipv4 {
  const parsed = ipv4Schema.safeParse(value);
  if (!parsed.success) throw invalid(field, `${field} "${value}" ${parsed.error.issues[0]!.message}`);
  const ip = parsed.data;
  if (!cidrContains(settings.lanCidr, ip)) throw invalid(field, `${field} ${ip} is not inside the LAN ${settings.lanCidr}`);
  const end = networkEndOf(settings.lanCidr, ip);
  if (end !== null) throw invalid(field, `${field} ${ip} is the ${end} address of ${settings.lanCidr}`);
  return ip;
}

export function validListenPort(port: number, settings: Pick<Settings, 'forwarderPortMin' | 'forwarderPortMax'>, field = 'listenPort'): number {
  if (!Number.isInteger(port) || port < settings.forwarderPortMin || port > settings.forwarderPortMax) {
    throw invalid(field, `${field} ${port} is outside the forwarder port range ${settings.forwarderPortMin}-${settings.forwarderPortMax}`);
  }
  return port;
}

/** A pinned client MAC (docs/SECURITY.md flow 19): unicast only, normalised to lower-case colon form. */
export function validMacAddress(value: string, field = 'macAddress'): MacAddress {
  const parsed = macAddressSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const message = parsed.error.issues[0]!.message;
  // The schema names the normalised address when its form was right; otherwise quote the input.
  throw invalid(field, message.startsWith('must') ? `${field} ${JSON.stringify(value)} ${message}` : `${field} ${message}`);
}

/** A bandwidth limit in kbit/s within the bounds the agent can hold (packages/domain shaping.ts); null: unlimited. */
export function validRateKbit(value: number | null, field: string): number | null {
  if (value === null) return null;
  const parsed = rateKbitSchema.safeParse(value);
  if (!parsed.success) throw invalid(field, `${field} ${value} ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

/** A byte quota within the domain's bounds (1 MB to 1 PB); null: no quota. */
export function validQuotaBytes(value: number | string | null, field: string): number | null {
  if (value === null) return null;
  const parsed = quotaBytesSchema.safeParse(value);
  if (!parsed.success) throw invalid(field, `${field} ${JSON.stringify(value)} ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}
