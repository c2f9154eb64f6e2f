import { backupProxyIdsSchema, type FailPolicy, MAX_BACKUP_PROXIES } from '@pgw/domain';
import { invalid, notFound } from './domain-errors.js';

export interface FailPolicyFields {
  readonly failPolicy: FailPolicy;
  readonly backupProxyIds: number[];
}

/**
 * A mapping's fail policy and backup list as it will be stored (issue 17): absent parts are kept
 * (edit) or closed with no backups (create). Every backup must be a proxy, none twice, never the
 * mapping's own; `backup` needs at least one. A list the operator did not send that holds the new
 * primary (a backup promoted to primary) loses it rather than refusing an edit of another field.
 */
export async function resolveFailPolicy(
  input: { readonly failPolicy?: FailPolicy | undefined; readonly backupProxyIds?: readonly number[] | undefined },
  existing: FailPolicyFields | null,
  proxyId: number,
  proxyName: (id: number) => Promise<string | undefined>,
): Promise<FailPolicyFields> {
  const failPolicy = input.failPolicy ?? existing?.failPolicy ?? 'closed';
  let backupProxyIds: number[];
  if (input.backupProxyIds === undefined) {
    backupProxyIds = (existing?.backupProxyIds ?? []).filter((id) => id !== proxyId);
  } else {
    const parsed = backupProxyIdsSchema.safeParse(input.backupProxyIds);
    if (!parsed.success) {
      const tooMany = input.backupProxyIds.length > MAX_BACKUP_PROXIES;
      throw invalid('backupProxyIds', tooMany ? `at most ${MAX_BACKUP_PROXIES} backup proxies` : 'a backup proxy is listed twice');
    }
    backupProxyIds = [...parsed.data];
    if (backupProxyIds.includes(proxyId)) throw invalid('backupProxyIds', "the mapping's own proxy cannot be its backup");
    for (const id of backupProxyIds) if ((await proxyName(id)) === undefined) throw notFound(`backup proxy ${id}`, 'backupProxyIds');
  }
  if (failPolicy === 'backup' && backupProxyIds.length === 0) throw invalid('backupProxyIds', 'the fail policy backup needs at least one backup proxy');
  return { failPolicy, backupProxyIds };
}

/**
 * A stored mapping's fail policy and backups once `proxyId` is its primary (a bulk assign, an
 * import): the new primary leaves the backups, and a `backup` policy left with none becomes
 * `closed`, which is what it does with no backup to fail over to. Kept `backup`, the row would be
 * one that every later edit refuses.
 */
export function promotedFailPolicy(existing: FailPolicyFields, proxyId: number): FailPolicyFields {
  const backupProxyIds = existing.backupProxyIds.filter((id) => id !== proxyId);
  return { failPolicy: existing.failPolicy === 'backup' && backupProxyIds.length === 0 ? 'closed' : existing.failPolicy, backupProxyIds };
}
