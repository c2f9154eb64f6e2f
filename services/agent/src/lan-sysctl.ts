import { readFile, writeFile } from 'node:fs/promises';
import type { InterfaceName } from '@pgw/domain';

/**
 * DNAT to 127.0.0.1 needs route_localnet on the LAN interface. It opens a hole (LAN packets
 * addressed to 127.0.0.0/8), closed by the ruleset's from_lan chain and by the guard: the
 * reconciler only calls this after such a ruleset is in force.
 */
export async function enableRouteLocalnet(iface: InterfaceName): Promise<void> {
  const file = `/proc/sys/net/ipv4/conf/${iface}/route_localnet`;
  if ((await readFile(file, 'utf8')).trim() !== '1') await writeFile(file, '1\n');
}
