import type { GatewayPolicy, PolicyClient } from '@pgw/domain';
import type { PolicyBuild } from '../policy/build-policy.js';
import { quotaName, quotaStem } from './quota-table.js';

/**
 * Clients over quota join the block path of every other blocked client (`lan_blocked`, reason
 * quota_exceeded): their connections are reset like a dead proxy's (flow 18), on top of the quota
 * table's drop that already stopped them in the kernel. `over` holds quota stems (mapping, epoch), so a
 * reset (a new epoch) is not over the moment the policy carries it; a new period is the poll's
 * (it reports the new period's objects, not over).
 *
 * Held stems (`hold`, the state file's at boot) count as over until `releaseHeld`: after a reboot
 * the quota objects start from zero until the stored counts are read (Redis), so only the saved
 * stems keep a client that had used its whole quota blocked meanwhile. They are of one quota
 * period, and end with it.
 *
 * The build comes back as the very same object when no effective client is over quota, and as
 * the same derived object for the same build and names: the reconciler tells "unchanged" by identity.
 */
export class QuotaBlocks {
  private reported: ReadonlySet<string> = new Set();
  private held: ReadonlySet<string> = new Set();
  private heldPeriod: string | null = null;
  private over: ReadonlySet<string> = new Set();
  private key = '';
  private memo = new WeakMap<PolicyBuild, { key: string; build: PolicyBuild }>();

  /** The quota stems (quotaStem: mapping, epoch) now over their limit; true when that changes which are over. */
  setOver(keys: Iterable<string>): boolean {
    this.reported = new Set(keys);
    return this.update();
  }

  /** Stems over their quota in `periodKey` before any count can be judged (the state file's at boot). */
  hold(keys: Iterable<string>, periodKey: string): void {
    this.held = new Set(keys);
    this.heldPeriod = periodKey;
    this.update();
  }

  /** The stems over quota now, polled or held: what the state file keeps for the next boot. */
  get stems(): string[] {
    return [...this.over].sort();
  }

  /** The held stems' period ended (`periodKey` is the one in force): theirs are stale; true when that changes which are over. */
  releaseHeldOutside(periodKey: string): boolean {
    return periodKey !== this.heldPeriod && this.releaseHeld();
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
    const policy = this.applyTo(build.policy);
    const result = policy === build.policy ? build : { ...build, policy };
    this.memo.set(build, { key: this.key, build: result });
    return result;
  }

  /** apply() of a bare policy (the very same object when no client is over its quota). */
  applyTo(policy: GatewayPolicy): GatewayPolicy {
    let changed = false;
    const clients = policy.clients.map((client): PolicyClient => {
      if (client.blocked !== null || client.shaping?.quotaBytes == null) return client;
      if (!this.over.has(quotaStem(client.mappingId, client.shaping.quotaEpoch))) return client;
      changed = true;
      return { ...client, blocked: 'quota_exceeded' };
    });
    return changed ? { ...policy, clients } : policy;
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
 * The stems a state file holds over quota that still stand at boot: those of a file written in the
 * quota period in force now (`savedPeriodKey`; null in files from before it was kept: none).
 */
export function quotaStemsAtBoot(savedStems: readonly string[], savedPeriodKey: string | null, currentPeriodKey: string | null): string[] {
  return savedPeriodKey !== null && savedPeriodKey === currentPeriodKey ? [...savedStems] : [];
}

/**
 * The held stems as quota counts of their period (quota object name -> bytes): each used up to the
 * limit the saved policy (the state file's) gave it. Seeded like a stored count (Shaper.hold), they
 * keep the client blocked by the kernel's own count once the held block is released, which happens
 * as soon as Redis answers, whatever it holds: one that lost its data answered nothing of the
 * client, and its quota counted from zero again. The saved limit, not the one in force: a limit
 * raised since leaves the client its difference, as a count would.
 */
export function heldQuotaCounts(stems: readonly string[], periodKey: string, savedPolicy: GatewayPolicy | null): Map<string, number> {
  const held = new Set(stems);
  const counts = new Map<string, number>();
  for (const client of savedPolicy?.clients ?? []) {
    const bytes = client.shaping?.quotaBytes;
    if (bytes == null || !held.has(quotaStem(client.mappingId, client.shaping!.quotaEpoch))) continue;
    counts.set(quotaName(client.mappingId, client.shaping!.quotaEpoch, periodKey), bytes);
  }
  return counts;
}
