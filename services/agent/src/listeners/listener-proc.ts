/** TCP state codes of /proc/net/tcp: TIME_WAIT entries hold no port (our sockets set SO_REUSEADDR). */
const TIME_WAIT = '06';

/**
 * Local addresses as /proc/net/tcp{,6} prints them (32-bit words in host order) whose sockets can
 * keep the agent from binding 127.0.0.1:<port>: 127.0.0.1 and 0.0.0.0, the same as IPv4-mapped
 * IPv6, and :: (dual-stack unless IPV6_V6ONLY, which the file does not show). A socket on any
 * other address (127.0.0.2, the LAN address, ::1) never conflicts (port-window.ts's
 * foreignListeners keeps the same set).
 */
const OVER_LOOPBACK_PORT = new Set(['0100007F', '00000000', '0000000000000000FFFF00000100007F', '0000000000000000FFFF000000000000', '00000000000000000000000000000000']);

/**
 * Pure: the uids of the sockets bound to local port `port` on 127.0.0.1 or a wildcard in
 * /proc/net/tcp or tcp6 text (any state but TIME_WAIT). The uid is the socket's creator, which the
 * kernel keeps when a descriptor is passed on, so a socket the agent created and handed to the
 * forwarder shows uid 0, and one a local user bound shows theirs.
 */
export function uidsBoundToPort(procNetTcp: string, port: number): number[] {
  const uids: number[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const local = fields[1]!;
    const colon = local.lastIndexOf(':');
    if (Number.parseInt(local.slice(colon + 1), 16) !== port || fields[3] === TIME_WAIT) continue;
    if (!OVER_LOOPBACK_PORT.has(local.slice(0, colon).toUpperCase())) continue;
    uids.push(Number(fields[7]));
  }
  return uids;
}
