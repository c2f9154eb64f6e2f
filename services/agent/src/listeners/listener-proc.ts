/** TCP state codes of /proc/net/tcp: TIME_WAIT entries hold no port (our sockets set SO_REUSEADDR). */
const TIME_WAIT = '06';

/**
 * Pure: the uids of the sockets bound to local port `port` in /proc/net/tcp or tcp6 text (any
 * local address, any state but TIME_WAIT). The uid is the socket's creator, which the kernel keeps
 * when a descriptor is passed on, so a socket the agent created and handed to the forwarder shows
 * uid 0, and one a local user bound shows theirs.
 */
export function uidsBoundToPort(procNetTcp: string, port: number): number[] {
  const uids: number[] = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    const local = fields[1]!;
    const localPort = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (localPort !== port || fields[3] === TIME_WAIT) continue;
    uids.push(Number(fields[7]));
  }
  return uids;
}
