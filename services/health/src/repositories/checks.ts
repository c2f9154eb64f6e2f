import { sql } from 'kysely';
import type { Db } from '@pgw/db';

export interface PruneResult {
  readonly deleted: number;
  /** True when the batch budget ran out before the backlog did (the next run continues). */
  readonly more: boolean;
}

/**
 * Deletes history older than the retention in batches of `batchSize` rows, at most `maxBatches`
 * per call, so a large backlog never holds long locks or one huge transaction.
 */
export async function pruneHistory(db: Db, retentionDays: number, batchSize = 5_000, maxBatches = 20): Promise<PruneResult> {
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const result = await db
      .deleteFrom('proxyChecks')
      .where(
        'id',
        'in',
        db
          .selectFrom('proxyChecks')
          .select('id')
          .where('checkedAt', '<', sql<Date>`now() - make_interval(days => ${retentionDays})`)
          .limit(batchSize),
      )
      .executeTakeFirst();
    const count = Number(result.numDeletedRows);
    deleted += count;
    if (count < batchSize) return { deleted, more: false };
  }
  return { deleted, more: true };
}
