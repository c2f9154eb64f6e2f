import { MAX_MAPPINGS } from '@pgw/domain';
import { conflict } from './domain-errors.js';

/**
 * Refuses a write that would leave more than MAX_MAPPINGS mappings: the agent's usage sample (every
 * client's counters and quota count) does not parse past it, and was dropped without a word.
 * Called under the listen-port lock, which every mapping insert takes.
 */
export function refuseOverCapacity(stored: number, adding: number): void {
  // Nothing added (an import of updates only): a gateway already past it (rows from before the limit) still edits its mappings.
  if (adding === 0 || stored + adding <= MAX_MAPPINGS) return;
  throw conflict(undefined, `the gateway holds at most ${MAX_MAPPINGS} mappings (${stored} stored, ${adding} more asked for); delete some first`);
}
