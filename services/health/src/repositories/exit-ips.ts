import type { Db } from '@pgw/db';
import { sql } from 'kysely';

/** Addresses kept per proxy: the most recently seen. */
export const EXIT_IP_HISTORY_PER_PROXY = 1000;

/**
 * Inside the probe's transaction (recordProbe): the address joins the proxy's exit-IP history
 * (migration 0014; first seen, last seen, how often; the newest 1000 per proxy), and the other proxies whose last exit IP is
 * the same address are returned (the `shared` alarm).
 */
export async function recordExitIp(trx: Db, proxyId: number, exitIp: string, at: Date): Promise<{ proxyId: number; name: string }[]> {
  await sql`
    INSERT INTO proxy_exit_ips (proxy_id, exit_ip, first_seen, last_seen) VALUES (${proxyId}, ${exitIp}::inet, ${at}, ${at})
    ON CONFLICT (proxy_id, exit_ip) DO UPDATE
      SET last_seen = greatest(proxy_exit_ips.last_seen, excluded.last_seen), seen_count = proxy_exit_ips.seen_count + 1`.execute(trx);
  // Bounded (migration 0016): a proxy rotating through a large pool adds an address per probe.
  await sql`
    DELETE FROM proxy_exit_ips WHERE proxy_id = ${proxyId} AND exit_ip IN (
      SELECT exit_ip FROM proxy_exit_ips WHERE proxy_id = ${proxyId} ORDER BY last_seen DESC, exit_ip OFFSET ${EXIT_IP_HISTORY_PER_PROXY})`.execute(trx);
  const { rows } = await sql<{ proxyId: number; name: string }>`
    SELECT id AS proxy_id, name FROM proxies WHERE exit_ip = ${exitIp}::inet AND id <> ${proxyId} ORDER BY id`.execute(trx);
  return rows;
}
