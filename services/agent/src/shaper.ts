import type { GatewayPolicy } from '@pgw/domain';
import { execa } from 'execa';
import { IFB_DEVICE, parseQuotaListing, parseTcClasses, QUOTA_TABLE, type QuotaObject, quotaExceeded, renderQuotaScript, renderTcPlan, type TcPlan } from './render-shaping.js';

const TIMEOUT_MS = 10_000;
/** An unchanged tc plan or quota table is read back at most this often (a sync follows every run, once a second at rest). */
const VERIFY_EVERY_MS = 10_000;

export interface ShaperBins {
  readonly tc: string;
  readonly nft: string;
  readonly ip: string;
}

/** What the quota poll found: the mappings over quota (their client's packets are being dropped). */
export type QuotaReport = ReadonlyMap<number, QuotaObject>;

/**
 * Applies render-shaping's plans in the agent's namespace: tc (one `tc -batch`, after removing our
 * qdiscs, only when the plan changed; read back by class) and table inet pgw_quota (one nft
 * transaction per policy). Syncs run one at a time, the newest policy waiting wins.
 */
export class Shaper {
  private appliedTc: string | null = null;
  private tcVerifiedAt = 0;
  /** The quota part last written (table, chains, objects): unchanged and all objects still listed: no transaction. */
  private appliedQuota: string | null = null;
  /** The quota part of the last policy checked against the kernel, and when. */
  private quotaChecked: { readonly key: string; readonly at: number } | null = null;
  private running: Promise<void> | null = null;
  private next: GatewayPolicy | null = null;
  private policy: GatewayPolicy | null = null;

  constructor(
    private readonly bins: ShaperBins,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Converge tc and the quota table to this policy (coalesced; never throws, errors go to onError). */
  sync(policy: GatewayPolicy): Promise<void> {
    this.next = policy;
    this.running ??= (async () => {
      while (this.next !== null) {
        const target = this.next;
        this.next = null;
        try {
          await this.applyTc(renderTcPlan(target));
          await this.applyQuota(target);
          this.policy = target;
        } catch (error) {
          this.appliedTc = null;
          this.appliedQuota = null;
          this.quotaChecked = null;
          this.onError(error as Error);
        }
      }
      this.running = null;
    })();
    return this.running;
  }

  /** The mappings over quota now, by the kernel's quota objects; empty before the first sync and when no client has a quota. */
  async exceeded(): Promise<QuotaReport> {
    if (this.policy === null || !this.policy.clients.some((c) => c.shaping?.quotaBytes != null)) return new Map();
    return quotaExceeded(this.policy, await this.listQuotas());
  }

  private async applyTc(plan: TcPlan): Promise<void> {
    const key = JSON.stringify(plan);
    if (key === this.appliedTc && Date.now() - this.tcVerifiedAt < VERIFY_EVERY_MS) return;
    if (key === this.appliedTc && (await this.verifyTc(plan))) {
      this.tcVerifiedAt = Date.now();
      return;
    }
    // Ours alone on these devices: the root and ingress qdiscs are removed (absent is fine) and
    // written again whole. A client's shaping pauses for the milliseconds of the batch, never its traffic.
    await this.run(this.bins.tc, ['qdisc', 'del', 'dev', plan.lan, 'root'], true);
    await this.run(this.bins.tc, ['qdisc', 'del', 'dev', plan.lan, 'ingress'], true);
    if (plan.ifb) {
      await this.run(this.bins.ip, ['link', 'add', 'name', IFB_DEVICE, 'type', 'ifb'], true);
      await this.run(this.bins.ip, ['link', 'set', 'dev', IFB_DEVICE, 'up']);
      await this.run(this.bins.tc, ['qdisc', 'del', 'dev', IFB_DEVICE, 'root'], true);
    } else await this.run(this.bins.ip, ['link', 'del', 'dev', IFB_DEVICE], true);
    if (plan.batch.length > 0) await this.run(this.bins.tc, ['-batch', '-'], false, plan.batch.join('\n') + '\n');
    if (!(await this.verifyTc(plan))) throw new Error('tc read-back differs from the plan just applied');
    this.appliedTc = key;
    this.tcVerifiedAt = Date.now();
  }

  /** Every planned class is there with its rate, and no other class of ours (this tc prints classes as text only). */
  private async verifyTc(plan: TcPlan): Promise<boolean> {
    const devices = [...new Set([plan.lan, ...(plan.ifb ? [IFB_DEVICE] : [])])];
    const seen = new Map<string, number | null>();
    for (const dev of devices) {
      for (const c of parseTcClasses(await this.run(this.bins.tc, ['class', 'show', 'dev', dev], true))) seen.set(`${dev} ${c.classid}`, c.rateKbit);
    }
    if (seen.size !== plan.classes.length) return false;
    return plan.classes.every((c) => seen.get(`${c.dev} ${c.classid}`) === c.rateKbit);
  }

  private async applyQuota(policy: GatewayPolicy): Promise<void> {
    const policyKey = JSON.stringify([policy.lan.interface, policy.clients.flatMap((c) => (c.shaping?.quotaBytes == null ? [] : [[c.ip, c.mappingId, c.shaping.quotaBytes, c.shaping.quotaEpoch]]))]);
    if (this.quotaChecked?.key === policyKey && Date.now() - this.quotaChecked.at < VERIFY_EVERY_MS) return;
    const listed = await this.listQuotas();
    // Rendered against names and limits only: a changed count alone is no reason to write.
    const script = renderQuotaScript(policy, listed);
    const key = renderQuotaScript(policy, listed.map((q) => ({ ...q, used: 0 })));
    if (key !== this.appliedQuota || /^(add|delete) quota /m.test(script)) {
      await this.run(this.bins.nft, ['-f', '-'], false, script);
      this.appliedQuota = renderQuotaScript(policy, (await this.listQuotas()).map((q) => ({ ...q, used: 0 })));
    }
    this.quotaChecked = { key: policyKey, at: Date.now() };
  }

  private async listQuotas(): Promise<QuotaObject[]> {
    const [family, name] = QUOTA_TABLE.split(' ');
    const result = await execa(this.bins.nft, ['-j', 'list', 'quotas', 'table', family!, name!], { reject: false, timeout: TIMEOUT_MS });
    if (result.exitCode === 0) return parseQuotaListing(result.stdout);
    if (/No such file or directory/.test(result.stderr)) return [];
    throw new Error(`nft list quotas failed: ${result.stderr.trim().slice(0, 500)}`);
  }

  private async run(bin: string, args: string[], tolerant = false, input?: string): Promise<string> {
    const result = await execa(bin, args, { reject: false, timeout: TIMEOUT_MS, ...(input === undefined ? {} : { input }) });
    if (result.exitCode !== 0 && !tolerant) throw new Error(`${bin} ${args.join(' ')} failed (exit ${result.exitCode ?? result.signal}): ${(result.stderr || result.stdout).trim().slice(0, 500)}`);
    return result.exitCode === 0 ? result.stdout : '';
  }
}
