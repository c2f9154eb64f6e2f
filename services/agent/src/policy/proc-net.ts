/**
 * Parsers of the kernel's per-namespace views the agent checks its inputs against. Pure: the
 * caller reads the files (in the gateway's network namespace, where the agent runs).
 */

export interface Listener {
  readonly port: number;
  /** The local address it is bound to: dotted IPv4, or IPv6 as RFC 5952 writes it (`::`, `::1`, `::ffff:a.b.c.d`). */
  readonly address: string;
  /** Owner of the socket: the uid that created it. */
  readonly uid: number;
  readonly inode: string;
}

const TCP_LISTEN = '0A';

/** LISTEN sockets of /proc/net/tcp and /proc/net/tcp6 (header lines included or not). */
export function parseListeners(text: string): Listener[] {
  const listeners: Listener[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2 || fields[0] === 'sl') continue;
    const [, local, , state, , , , uid, , inode] = fields;
    const endpoint = /^([0-9A-F]{8}|[0-9A-F]{32}):([0-9A-F]{4})$/.exec(local ?? '');
    // A line we cannot read could be the very listener we must not overlook.
    if (!endpoint || !/^[0-9A-F]{2}$/.test(state ?? '') || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(inode ?? '')) {
      throw new Error(`cannot read /proc/net/tcp line: ${line.trim().slice(0, 120)}`);
    }
    if (state === TCP_LISTEN) listeners.push({ port: parseInt(endpoint[2]!, 16), address: procAddress(endpoint[1]!), uid: Number(uid), inode: inode! });
  }
  return listeners;
}

/**
 * An address as /proc/net/tcp{,6} writes it: 32-bit words in hex, each in the kernel's (little
 * endian) byte order; one word for IPv4, four for IPv6.
 */
function procAddress(hex: string): string {
  const bytes = Buffer.from(hex, 'hex');
  for (let word = 0; word < bytes.length; word += 4) bytes.subarray(word, word + 4).reverse();
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes.readUInt16BE(10) === 0xffff) return `::ffff:${[...bytes.subarray(12)].join('.')}`;
  // The URL parser writes an IPv6 address in its canonical form (RFC 5952: zeros compressed).
  return new URL(`http://[${Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(2 * i).toString(16)).join(':')}]`).hostname.slice(1, -1);
}

/** Interface names of /proc/net/dev. */
export function parseInterfaces(text: string): string[] {
  return text
    .split('\n')
    .slice(2)
    .map((line) => /^\s*([^:\s]+):/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** /proc/net/route: the interfaces an IPv4 default route (destination and mask 0) leaves by. */
export function parseDefaultRouteInterfaces(text: string): string[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields.length >= 8 && fields[1] === '00000000' && fields[7] === '00000000')
    .map((fields) => fields[0]!);
}

/** A route with no gateway: the prefix an interface reaches directly (its address's subnet). */
export interface LinkRoute {
  readonly iface: string;
  /** Dotted IPv4 network address. */
  readonly network: string;
  readonly prefixLength: number;
}

/** /proc/net/route (the main table): its link routes, default routes left out. */
export function parseLinkRoutes(text: string): LinkRoute[] {
  const routes: LinkRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const [iface, destination, gateway, , , , , mask] = line.trim().split(/\s+/);
    if (iface === undefined || !/^[0-9A-F]{8}$/.test(destination ?? '') || gateway !== '00000000' || !/^[0-9A-F]{8}$/.test(mask ?? '') || mask === '00000000') continue;
    const prefixLength = Buffer.from(mask!, 'hex').reduce((bits, byte) => bits + byte.toString(2).replace(/0/g, '').length, 0);
    routes.push({ iface, network: [...Buffer.from(destination!, 'hex').reverse()].join('.'), prefixLength });
  }
  return routes;
}

/** /proc/sys/net/ipv4/ip_local_port_range: the ports the kernel picks for outgoing connections. */
export function parsePortRange(text: string): { min: number; max: number } {
  const match = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!match) throw new Error(`cannot read ip_local_port_range: ${JSON.stringify(text.slice(0, 40))}`);
  return { min: Number(match[1]), max: Number(match[2]) };
}
