import type { Db } from '@pgw/db';
import { sql } from 'kysely';

/**
 * Inside the probe's transaction (recordProbe): the address joins the proxy's exit-IP history
 * (migration 0014; first seen, last seen, how often), and the other proxies whose last exit IP is
 * the same address are returned (the `shared` alarm).
 */
export async function recordExitIp(trx: Db, proxyId: number, exitIp: string, at: Date): Promise<{ proxyId: number; name: string }[]> {
  await sql`
    INSERT INTO proxy_exit_ips (proxy_id, exit_ip, first_seen, last_seen) VALUES (${proxyId}, ${exitIp}::inet, ${at}, ${at})
    ON CONFLICT (proxy_id, exit_ip) DO UPDATE
      SET last_seen = greatest(proxy_exit_ips.last_seen, excluded.last_seen), seen_count = proxy_exit_ips.seen_count + 1`.execute(trx);
  const { rows } = await sql<{ proxyId: number; name: string }>`
    SELECT id AS proxy_id, name FROM proxies WHERE exit_ip = ${exitIp}::inet AND id <> ${proxyId} ORDER BY id`.execute(trx);
  return rows;
}
