import { spawn } from 'node:child_process';
import type { GatewayPolicy, Settings } from '@pgw/domain';
import { type AgentConfig, underEnvironment } from './config.js';
import type { QuotaSettings } from './quota/quota-period.js';
import { LanSysctl } from './lan/lan-sysctl.js';
import type { ListenerRegistry } from './listeners/listener-registry.js';
import { renderRuleset } from './ruleset/render-ruleset.js';
import type { StateCache } from './policy/state-cache.js';

/** What the boot fast path did: the policy it put in force, or why it could not. */
export interface EarlyEnforcement {
  readonly policy: GatewayPolicy | null;
  /** The state file's policy as saved, before the sockets were held (policy: as held, some ports maybe refused). */
  readonly cached: GatewayPolicy | null;
  /** The quota period the policy was applied under (null: unknown, the quota tables wait for the database). */
  readonly quota: QuotaSettings | null;
  /** The quota period the state file was written in (null: unknown), and the quota stems over quota then. */
  readonly quotaPeriodKey: string | null;
  readonly quotaOver: readonly string[];
  /** The settings the state file's policy was built under (null: a file from before they were kept, or none). */
  readonly settings: Settings | null;
  /** Why the file's settings were left out (its policy enforced all the same), or null. */
  readonly leftOut: string | null;
  readonly error: string | null;
  readonly ms: number;
  /** Date.now() when it ended: the boot bench's milestone. */
  readonly doneAt: number;
}

/**
 * The boot fast path: the last applied policy goes back in force before the agent loads its
 * database, Redis, logging and metrics modules (over a second of CPU on a small box), so a
 * rebooted gateway enforces at once. Only light modules are imported here, and nft runs through
 * node:child_process for the same reason. The full agent then re-applies and verifies it.
 * onHeld runs once the cached policy's sockets are held, before nft runs: main.ts serves them to the
 * forwarder from then on, as nothing reaches them until the DNAT rules that point at them are in force.
 */
export async function enforceStateFileEarly(config: AgentConfig, stateCache: StateCache, listeners: ListenerRegistry, onHeld: () => void): Promise<EarlyEnforcement> {
  const started = performance.now();
  try {
    const file = await stateCache.load();
    if (!file) {
      // No policy to enforce (none yet, or set aside unwritten): the quota blocks of one set aside stand.
      const aside = await stateCache.unwrittenQuota().catch(() => null);
      return { policy: null, cached: null, quota: aside?.quota ?? null, quotaPeriodKey: aside?.quotaPeriodKey ?? null, quotaOver: aside?.quotaOver ?? [], settings: null, leftOut: null, error: null, ms: performance.now() - started, doneAt: Date.now() };
    }
    const cached = { ...file, policy: underEnvironment(file.policy, config) };
    // Sockets first: a DNAT rule never points at a port that no socket of ours holds.
    const { policy } = listeners.hold(cached.policy);
    onHeld();
    await applyScript(config.PGW_NFT_BIN, renderRuleset(policy).script);
    await new LanSysctl(config.PGW_STATE_DIR, config.PGW_IP_BIN).prepare(policy.lan.interface, policy.interceptMode !== 'tproxy', policy.interceptMode === 'tproxy');
    return { policy, cached: cached.policy, quota: cached.quota, quotaPeriodKey: file.quotaPeriodKey ?? null, quotaOver: file.quotaOver ?? [], settings: file.settings ?? null, leftOut: file.leftOut ?? null, error: null, ms: performance.now() - started, doneAt: Date.now() };
  } catch (error) {
    return { policy: null, cached: null, quota: null, quotaPeriodKey: null, quotaOver: [], settings: null, leftOut: null, error: (error as Error).message, ms: performance.now() - started, doneAt: Date.now() };
  }
}

function applyScript(bin: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`nft -f failed (exit ${code}): ${stderr.trim().slice(0, 500)}`))));
    child.stdin.end(script);
  });
}
