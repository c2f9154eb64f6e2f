import type { Db } from '@pgw/db';
import { sql } from 'kysely';
import type { DashboardCounts } from '../services/ports.js';

/** Proxy and mapping counts for the dashboard in one round trip (each count is a cheap aggregate). */
export async function dashboardCounts(db: Db): Promise<DashboardCounts> {
  const { rows } = await sql<Record<'up' | 'down' | 'unknown' | 'total' | 'enabled', string>>`
    SELECT p.up, p.down, p.unknown, m.total, m.enabled
    FROM (SELECT count(*) FILTER (WHERE status = 'up') AS up, count(*) FILTER (WHERE status = 'down') AS down,
                 count(*) FILTER (WHERE status = 'unknown') AS unknown FROM proxies) AS p,
         (SELECT count(*) AS total, count(*) FILTER (WHERE enabled) AS enabled FROM mappings) AS m`.execute(db);
  const row = rows[0]!;
  return {
    proxies: { up: Number(row.up), down: Number(row.down), unknown: Number(row.unknown) },
    mappings: { total: Number(row.total), enabled: Number(row.enabled) },
  };
}
