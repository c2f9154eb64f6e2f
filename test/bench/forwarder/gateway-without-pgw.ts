/**
 * Back to a gateway without pgw, after its agent stopped, for a bench's direct and redsocks rows:
 * none of pgw's nftables tables (the agent's, the static guard's, which drops all LAN forwarding,
 * the quota and accounting ones: every `pgw*` table, so that a table added later cannot outlive
 * the agent here unnoticed), no conntrack entries its rules made (DNAT-ed, TPROXY-marked or
 * half-open connections meeting redsocks' REDIRECT stalled a round before), and LAN forwarding on
 * (the agent switches it off as a kernel backstop). TPROXY's ip rule stays: it matches only pgw's
 * mark, which nothing sets then.
 */
import type { Lab } from '../../../lab/index.js';

export async function gatewayWithoutPgw(lab: Lab): Promise<void> {
  const gw = lab.ns.gateway;
  const listed = await lab.exec(gw, ['nft', 'list', 'tables']);
  for (const line of listed.stdout.split('\n')) {
    const [keyword, family, name] = line.trim().split(/\s+/);
    if (keyword === 'table' && family !== undefined && name?.startsWith('pgw')) await lab.exec(gw, ['nft', 'delete', 'table', family, name]);
  }
  // Exits 1 when the table is already empty.
  await lab.exec(gw, ['conntrack', '-F'], { reject: false });
  await lab.exec(gw, ['sysctl', '-q', '-w', `net.ipv4.conf.${lab.description.gateway.lanIface}.forwarding=1`]);
}
