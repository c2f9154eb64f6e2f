import ipaddr from 'ipaddr.js';

/**
 * The prefix one IPv6 subscriber is routinely given, every address in it one client's to pick: a
 * /56 is common for homes and RFC 6177 recommends no longer (a /48 for sites). Counted per /64, one
 * home rotated through 256 keys of its own past the address limits to the global ceiling.
 */
const IPV6_SUBSCRIBER_PREFIX = 56;

/**
 * The network a client address stands for when counting what one client does (the login throttle):
 * an IPv4 address itself (an IPv4-mapped IPv6 spelling read as IPv4), an IPv6 address its /56, as
 * `2001:db8:1:200::/56`. Counted per IPv6 address, one host would rotate through its prefix past
 * any per-address limit. Text that is no address is returned as it is (its own key).
 */
export function clientNetworkKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const bytes = parsed.toByteArray().slice(0, IPV6_SUBSCRIBER_PREFIX / 8);
  const network = ipaddr.fromByteArray([...bytes, ...new Array<number>(16 - bytes.length).fill(0)]);
  return `${network.toString()}/${IPV6_SUBSCRIBER_PREFIX}`;
}
