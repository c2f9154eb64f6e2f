import type { Db } from '@pgw/db';
import type { ClientUsageSample } from '@pgw/events';
import { sql } from 'kysely';
import type { UsageResolution } from '../contract/types.js';
import { type UsageBase, type UsageCounters, usageDeltas } from '../logic/usage-delta.js';
import type { TalkerRow, UsageBucket, UsageHistory } from '../services/usage.service.js';

/** The history tables of migration 0011, by resolution. */
const TABLE = { minute: sql.table('usage_minute'), hour: sql.table('usage_hour'), day: sql.table('usage_day') } as const;

/** An upsert of one resolution's buckets from the sample's rows (CTE `s`), adding to what the bucket holds. */
const addTo = (resolution: UsageResolution) => sql`
  INSERT INTO ${TABLE[resolution]} AS u (client_ip, bucket, mapping_id, bytes_up, bytes_down, connections)
  SELECT client_ip, date_trunc(${resolution}, ${sql.ref('s.at')} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', mapping_id, bytes_up, bytes_down, connections FROM s
  ON CONFLICT (client_ip, bucket) DO UPDATE SET mapping_id = excluded.mapping_id,
    bytes_up = u.bytes_up + excluded.bytes_up, bytes_down = u.bytes_down + excluded.bytes_down, connections = u.connections + excluded.connections`;

/** What taking one sample wrote: rows per table (0: nothing new), or skipped (not newer than the node's last). */
export interface SampleWrite {
  readonly skipped: boolean;
  readonly rows: number;
}

/**
 * Adds one node's sample to the history, exactly once: under a lock on the node, against the
 * counters of its last sample taken (usage_cursor), in ONE statement that adds the differences to
 * the minute, hour and day buckets and moves the cursor. 4096 clients are one statement, not 12 288.
 */
export async function writeUsageSample(db: Db, sample: ClientUsageSample): Promise<SampleWrite> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`pgw-usage:${sample.node}`}))`.execute(trx);
    const { rows: cursor } = await sql<{ sampledAt: Date; countersSince: Date; counters: UsageCounters }>`
      SELECT sampled_at, counters_since, counters FROM usage_cursor WHERE node = ${sample.node}`.execute(trx);
    const base: UsageBase | null = cursor[0] ?? null;
    const taken = usageDeltas(base, sample);
    if (!taken) return { skipped: true, rows: 0 };
    const { rows, counters } = taken;
    await sql`
      WITH s AS (
        SELECT t.*, ${sample.sampledAt}::timestamptz AS at
        FROM unnest(${rows.map((r) => r.clientIp)}::inet[], ${rows.map((r) => r.mappingId)}::int[], ${rows.map((r) => r.bytesUp)}::bigint[],
                    ${rows.map((r) => r.bytesDown)}::bigint[], ${rows.map((r) => r.connections)}::bigint[])
          AS t(client_ip, mapping_id, bytes_up, bytes_down, connections)
      ), minute AS (${addTo('minute')}), hour AS (${addTo('hour')}), day AS (${addTo('day')})
      INSERT INTO usage_cursor (node, sampled_at, counters_since, counters)
      VALUES (${sample.node}, ${sample.sampledAt}, ${sample.countersSince}, ${JSON.stringify(counters)}::jsonb)
      ON CONFLICT (node) DO UPDATE SET sampled_at = excluded.sampled_at, counters_since = excluded.counters_since, counters = excluded.counters`.execute(trx);
    return { skipped: false, rows: rows.length };
  });
}

/** Deletes buckets older than the retention settings before `now` (migration 0011); returns the rows deleted. */
export async function pruneUsage(db: Db, now: Date): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    WITH r AS (SELECT usage_minute_retention_hours AS mh, usage_hour_retention_days AS hd, usage_day_retention_days AS dd, ${now}::timestamptz AS now FROM settings WHERE id = 1),
      m AS (DELETE FROM usage_minute WHERE bucket < (SELECT now FROM r) - make_interval(hours => (SELECT mh FROM r)) RETURNING 1),
      h AS (DELETE FROM usage_hour WHERE bucket < (SELECT now FROM r) - make_interval(days => (SELECT hd FROM r)) RETURNING 1),
      d AS (DELETE FROM usage_day WHERE bucket < (SELECT now FROM r) - make_interval(days => (SELECT dd FROM r)) RETURNING 1)
    SELECT (SELECT count(*) FROM m) + (SELECT count(*) FROM h) + (SELECT count(*) FROM d) AS n`.execute(db);
  return Number(rows[0]!.n);
}

/** How far back each resolution reaches now (the retention settings). */
export async function usageRetention(db: Db): Promise<Record<UsageResolution, number>> {
  const { rows } = await sql<{ mh: number; hd: number; dd: number }>`
    SELECT usage_minute_retention_hours AS mh, usage_hour_retention_days AS hd, usage_day_retention_days AS dd FROM settings WHERE id = 1`.execute(db);
  const { mh, hd, dd } = rows[0]!;
  return { minute: mh * 3_600_000, hour: hd * 86_400_000, day: dd * 86_400_000 };
}

/** One client's buckets in [from, to), oldest first. */
export async function clientUsageBuckets(db: Db, clientIp: string, resolution: UsageResolution, from: Date, to: Date): Promise<UsageBucket[]> {
  const { rows } = await sql<{ at: string; bytesUp: string; bytesDown: string; connections: string }>`
    SELECT to_char(bucket AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, bytes_up, bytes_down, connections
    FROM ${TABLE[resolution]} WHERE client_ip = ${clientIp}::inet AND bucket >= ${from} AND bucket < ${to} ORDER BY bucket`.execute(db);
  return rows.map((r) => ({ at: r.at, bytesUp: Number(r.bytesUp), bytesDown: Number(r.bytesDown), connections: Number(r.connections) }));
}

/** The clients with the most bytes (up + down) in [from, to), with the mapping their address has now. */
export async function topTalkers(db: Db, resolution: UsageResolution, from: Date, to: Date, limit: number): Promise<TalkerRow[]> {
  const { rows } = await sql<{ clientIp: string; mappingId: number | null; description: string | null; bytesUp: string; bytesDown: string }>`
    SELECT host(u.client_ip) AS client_ip, m.id AS mapping_id, m.description, u.bytes_up, u.bytes_down
    FROM (SELECT client_ip, sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down FROM ${TABLE[resolution]}
          WHERE bucket >= ${from} AND bucket < ${to} GROUP BY client_ip ORDER BY sum(bytes_up) + sum(bytes_down) DESC, client_ip LIMIT ${limit}) u
    LEFT JOIN mappings m ON m.client_ip = u.client_ip
    ORDER BY u.bytes_up + u.bytes_down DESC, u.client_ip`.execute(db);
  return rows.map((r) => ({ clientIp: r.clientIp, mappingId: r.mappingId, description: r.description ?? '', bytesUp: Number(r.bytesUp), bytesDown: Number(r.bytesDown) }));
}

/** The usage service's history on Postgres. */
export const usageHistory = (db: Db): UsageHistory => ({
  retentionMs: () => usageRetention(db),
  buckets: (clientIp, resolution, from, to) => clientUsageBuckets(db, clientIp, resolution, from, to),
  top: (resolution, from, to, limit) => topTalkers(db, resolution, from, to, limit),
});
