import type { Db, NewProxy } from '@pgw/db';
import { sql } from 'kysely';
import { nextPhaseAt } from '../../services/health/src/scheduling/spread.js';

/**
 * Inserts a proxy whose periodic probe is not due within `quietMs`, and returns its id.
 *
 * The health service probes each proxy at its own phase of the period, on the wall clock
 * (spread.ts), and a new proxy's first probe at once does not move that phase. So a period "far
 * longer than the test" still puts a periodic probe inside the test now and then (with 300 s and
 * a serial id, about one run in 40), and a test counting the probes it asked for saw one more.
 * Tests that expect no periodic probe but the first insert their proxies through here: the id is
 * the first unused one whose phase is far enough away, and the serial sequence is moved past it.
 */
export async function insertQuietProxy(db: Db, proxy: Omit<NewProxy, 'id'>, { intervalS, quietMs }: { readonly intervalS: number; readonly quietMs: number }): Promise<number> {
  if (quietMs >= intervalS * 1000) throw new Error(`a quiet time of ${quietMs} ms does not fit in a period of ${intervalS} s`);
  const { max } = await db.selectFrom('proxies').select(sql<number>`coalesce(max(id), 0)`.as('max')).executeTakeFirstOrThrow();
  const now = Date.now();
  let id = max + 1;
  // Consecutive ids' phases are spread over the period (golden ratio): a few steps find one.
  while (nextPhaseAt(id, intervalS * 1000, now) - now < quietMs) id++;
  await db.insertInto('proxies').values({ ...proxy, id }).execute();
  await sql`SELECT setval(pg_get_serial_sequence('proxies', 'id'), ${id})`.execute(db);
  return id;
}

/**
 * The longest period from `fromS` down (at most halved) at which none of `ids` has its periodic
 * probe within `quietMs`: for a test that lengthens the period of proxies it already has, so that
 * only the probes it asks for run from then on. The phase moves with the period (spread.ts).
 */
export function quietIntervalS(ids: readonly number[], quietMs: number, fromS = 3600, now = Date.now()): number {
  for (let intervalS = fromS; intervalS >= fromS / 2; intervalS--) {
    if (ids.every((id) => nextPhaseAt(id, intervalS * 1000, now) - now >= quietMs)) return intervalS;
  }
  throw new Error(`no period from ${fromS} s down to ${fromS / 2} s keeps the periodic probes of ${ids.length} proxies ${quietMs} ms away`);
}
