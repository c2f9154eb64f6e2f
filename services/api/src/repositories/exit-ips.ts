import type { Db } from '@pgw/db';
import { sql } from 'kysely';
import type { components } from '../contract/schema.js';

/** At most this many addresses per answer: a rotating proxy's pool, newest first. */
export const EXIT_IP_HISTORY_LIMIT = 1000;

/** A proxy's exit-IP history (migration 0014, written by the health service), most recently seen first. */
export async function listExitIps(db: Db, proxyId: number): Promise<components['schemas']['ProxyExitIp'][]> {
  const { rows } = await sql<{ exitIp: string; firstSeen: string; lastSeen: string; seenCount: number }>`
    SELECT host(exit_ip) AS exit_ip,
           to_char(first_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS first_seen,
           to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS last_seen,
           seen_count
      FROM proxy_exit_ips WHERE proxy_id = ${proxyId}
     ORDER BY last_seen DESC, exit_ip LIMIT ${EXIT_IP_HISTORY_LIMIT}`.execute(db);
  return rows;
}
