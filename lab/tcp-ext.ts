import { execIn } from './netns.js';

/**
 * The TcpExt counter `name` of namespace `ns` (/proc/net/netstat is per network namespace), e.g.
 * TCPFastOpenPassive: SYNs whose data a listener there took with the SYN.
 */
export async function readTcpExt(ns: string, name: string): Promise<number> {
  const lines = (await execIn(ns, ['cat', '/proc/net/netstat'])).stdout.split('\n').filter((l) => l.startsWith('TcpExt:'));
  const [names, values] = lines.map((l) => l.trim().split(/\s+/));
  const at = names?.indexOf(name) ?? -1;
  if (at < 0 || values === undefined) throw new Error(`no TcpExt ${name} in /proc/net/netstat of ${ns}`);
  return Number(values[at]);
}
