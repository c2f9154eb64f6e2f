import type { PolicyClient } from '@pgw/domain';
import type { PolicyBuild } from '../policy/build-policy.js';
import { quotaStem } from './quota-table.js';

/**
 * Clients over quota join the block path of every other blocked client (`lan_blocked`, reason
 * quota_exceeded): their connections are reset like a dead proxy's (flow 18), on top of the quota
 * table's drop that already stopped them in the kernel. `over` holds quota stems (mapping, epoch), so a
 * reset (a new epoch) is not over the moment the policy carries it; a new period is the poll's
 * (it reports the new period's objects, not over).
 * The build comes back as the very same object when no effective client is over quota, and as
 * the same derived object for the same build and names: the reconciler tells "unchanged" by identity.
 */
export class QuotaBlocks {
  private over: ReadonlySet<string> = new Set();
  private key = '';
  private memo = new WeakMap<PolicyBuild, { key: string; build: PolicyBuild }>();

  /** The quota stems (quotaStem: mapping, epoch) now over their limit; true when that changes which are over. */
  setOver(keys: Iterable<string>): boolean {
    const next = new Set(keys);
    const key = [...next].sort().join(',');
    if (key === this.key) return false;
    this.over = next;
    this.key = key;
    return true;
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
}
