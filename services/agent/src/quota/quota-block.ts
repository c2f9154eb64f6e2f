import type { GatewayPolicy, PolicyClient } from '@pgw/domain';
import type { PolicyBuild } from '../policy/build-policy.js';
import { quotaStem } from './quota-table.js';

/**
 * Clients over quota join the block path of every other blocked client (`lan_blocked`, reason
 * quota_exceeded): their connections are reset like a dead proxy's (flow 18), on top of the quota
 * table's drop that already stopped them in the kernel. `over` holds quota stems (mapping, epoch), so a
 * reset (a new epoch) is not over the moment the policy carries it; a new period is the poll's
 * (it reports the new period's objects, not over).
 *
 * Held stems (`hold`, from the state file at boot) count as over until `releaseHeld`: after a
 * reboot the quota objects start from zero until the stored counts are read (Redis), so only the
 * saved block keeps a client that had used its whole quota blocked meanwhile.
 *
 * The build comes back as the very same object when no effective client is over quota, and as
 * the same derived object for the same build and names: the reconciler tells "unchanged" by identity.
 */
export class QuotaBlocks {
  private reported: ReadonlySet<string> = new Set();
  private held: ReadonlySet<string> = new Set();
  private over: ReadonlySet<string> = new Set();
  private key = '';
  private memo = new WeakMap<PolicyBuild, { key: string; build: PolicyBuild }>();

  /** The quota stems (quotaStem: mapping, epoch) now over their limit; true when that changes which are over. */
  setOver(keys: Iterable<string>): boolean {
    this.reported = new Set(keys);
    return this.update();
  }

  /** Stems over their quota before any count can be judged (the state file's blocks at boot). */
  hold(keys: Iterable<string>): void {
    this.held = new Set(keys);
    this.update();
  }

  /** The counts can be judged again (the stored ones read and seeded); true when that changes which are over. */
  releaseHeld(): boolean {
    if (this.held.size === 0) return false;
    this.held = new Set();
    return this.update();
  }

  apply(build: PolicyBuild): PolicyBuild {
    if (this.over.size === 0) return build;
    const known = this.memo.get(build);
    if (known?.key === this.key) return known.build;
    let changed = false;
    const clients = build.policy.clients.map((client): PolicyClient => {
      if (client.blocked !== null || client.shaping?.quotaBytes == null) return client;
      if (!this.over.has(quotaStem(client.mappingId, client.shaping.quotaEpoch))) return client;
      changed = true;
      return { ...client, blocked: 'quota_exceeded' };
    });
    const result = changed ? { ...build, policy: { ...build.policy, clients } } : build;
    this.memo.set(build, { key: this.key, build: result });
    return result;
  }

  private update(): boolean {
    const next = new Set([...this.reported, ...this.held]);
    const key = [...next].sort().join(',');
    if (key === this.key) return false;
    this.over = next;
    this.key = key;
    return true;
  }
}

/**
 * The quota blocks a saved policy held that still stand at boot: its clients blocked
 * quota_exceeded, when the file was written in the quota period in force now (`savedPeriodKey`,
 * null in files from before it was kept: none). A block of an earlier period ended with it.
 */
export function quotaBlocksAtBoot(saved: GatewayPolicy | null, savedPeriodKey: string | null, currentPeriodKey: string | null): string[] {
  if (saved === null || savedPeriodKey === null || savedPeriodKey !== currentPeriodKey) return [];
  return saved.clients.filter((c) => c.blocked === 'quota_exceeded' && c.shaping?.quotaBytes != null).map((c) => quotaStem(c.mappingId, c.shaping!.quotaEpoch));
}
