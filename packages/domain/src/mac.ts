import { z } from 'zod';

/** A unicast Ethernet address in lower-case colon form: the only spelling that reaches nft or Postgres. */
export type MacAddress = string & { readonly __brand: 'MacAddress' };

const FORMS = [/^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i, /^([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})-([0-9a-f]{2})$/i, /^([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})\.([0-9a-f]{2})([0-9a-f]{2})$/i];

/**
 * A client's MAC address as an operator types it (colon, dash or Cisco dotted form, any case).
 * Only a unicast address identifies one sender: broadcast, multicast and all-zero are refused.
 */
export const macAddressSchema = z.string().transform((value, ctx): MacAddress => {
  const text = value.trim();
  const octets = FORMS.map((form) => form.exec(text)).find((m) => m !== null)?.slice(1);
  if (!octets) {
    ctx.addIssue({ code: 'custom', message: 'must be a MAC address like 52:54:00:12:34:56' });
    return z.NEVER;
  }
  const mac = octets.join(':').toLowerCase();
  const reason =
    mac === 'ff:ff:ff:ff:ff:ff' ? 'is the broadcast address'
    : (parseInt(octets[0]!, 16) & 1) === 1 ? 'is a multicast address (lowest bit of the first octet set)'
    : mac === '00:00:00:00:00:00' ? 'is the all-zero address'
    : null;
  if (reason) {
    ctx.addIssue({ code: 'custom', message: `${mac} ${reason}: no single client sends from it` });
    return z.NEVER;
  }
  return mac as MacAddress;
});

export function parseMacAddress(value: string): MacAddress {
  return macAddressSchema.parse(value);
}
