import type { Readiness } from '@pgw/metrics';
import type { EarlyEnforcement } from './boot.js';
import type { ReconcileOutcome } from './ruleset/reconciler.js';

/**
 * Whether this agent has a policy of its own in force, as `/readyz` reports it to keepalived's
 * check (deploy/keepalived/pgw-ha-check.sh). A node without one (a first boot, or a lost state
 * directory, while Postgres is away) has only the guard in force, which drops every client: it must
 * leave the virtual IP to a peer that serves them, although its agent is alive. Once a policy is in
 * force it stays ready: a later run that fails keeps that policy in the kernel (reconciler.ts).
 */
export class PolicyReadiness {
  private inForce: boolean;
  private why: string;

  constructor(early: Pick<EarlyEnforcement, 'policy' | 'error'>) {
    this.inForce = early.policy !== null;
    this.why = early.error === null ? 'no state file' : `state file not enforced: ${early.error}`;
  }

  /** Every run's outcome: its build is the policy in force, if any. */
  observe(outcome: Pick<ReconcileOutcome, 'build' | 'errors'>): void {
    if (outcome.build !== null) this.inForce = true;
    else if (outcome.errors.length > 0) this.why = outcome.errors.map((e) => e.message).join('; ');
  }

  readonly readiness: Readiness = () => (this.inForce ? null : `no policy in force yet (${this.why})`);
}
