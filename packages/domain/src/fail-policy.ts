import { z } from 'zod';

/**
 * What a mapping's client gets while its proxy is down (issue 17). `closed` (default): nothing,
 * as in v1. `backup`: the first healthy proxy of its ordered backup list; never a direct route.
 */
export const FAIL_POLICIES = ['closed', 'backup'] as const;
export type FailPolicy = (typeof FAIL_POLICIES)[number];
export const failPolicySchema = z.enum(FAIL_POLICIES);

/** A backup list longer than this is a proxy farm's rotation, not a fail-over (and each costs a status check). */
export const MAX_BACKUP_PROXIES = 8;
export const backupProxyIdsSchema = z
  .array(z.number().int().positive())
  .max(MAX_BACKUP_PROXIES, `at most ${MAX_BACKUP_PROXIES} backup proxies`)
  .refine((ids) => new Set(ids).size === ids.length, 'a backup proxy is listed twice');

/** Seconds a recovered proxy must stay up before clients move back to it (settings.backupHoldDownS). */
export const backupHoldDownSchema = z.number().int().min(0).max(3600);
export const DEFAULT_BACKUP_HOLD_DOWN_S = 30;

/** A mapping's fail policy; backups in order of preference, never containing its own proxy. */
export interface MappingFailPolicy {
  readonly failPolicy: FailPolicy;
  readonly backupProxyIds: readonly number[];
}
