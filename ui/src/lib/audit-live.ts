import type { AuditEntry } from '../api/types.js';

/**
 * Live audit search (issue 17, "live events with the same filters"): the newest page of the same
 * search, fetched again when something happened, merged into the rows shown. Audit ids grow with
 * each write (bigint, as strings), so "new" is "greater than the newest shown".
 */
export function mergeNewerAuditRows(
  shown: readonly AuditEntry[],
  newestPage: readonly AuditEntry[],
  pageSize: number,
): { rows: AuditEntry[]; added: string[]; replaced: boolean } {
  const newest = shown.length > 0 ? BigInt(shown[0]!.id) : -1n;
  const added = newestPage.filter((r) => BigInt(r.id) > newest);
  // A whole page of new rows may leave a gap before the shown ones: show the new page alone (its cursor pages on).
  if (added.length >= pageSize && shown.length > 0) return { rows: [...newestPage], added: added.map((r) => r.id), replaced: true };
  return { rows: [...added, ...shown], added: added.map((r) => r.id), replaced: false };
}

/** A search bounded by a past "to" time gets no new rows: live following is off for it. */
export function auditSearchCanGrow(to: string, now: Date): boolean {
  return to === '' || new Date(to).getTime() > now.getTime();
}
