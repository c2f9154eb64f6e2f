import type { Readiness } from '@pgw/metrics';
import type { EarlyEnforcement } from './boot.js';
import type { ReconcileOutcome } from './ruleset/reconciler.js';

/**
 * Whether this agent has a policy of its own in force, as `/readyz` reports it to keepalived's
 * check (deploy/keepalived/pgw-ha-check.sh). A node without one (a first boot, or a lost state
 * directory, while Postgres is away) has only the guard in force, which drops every client: it must
 * leave the virtual IP to a peer that serves them, although its agent is alive. A run that fails
 * keeps the policy in force in the kernel (reconciler.ts), except when the table itself is gone
 * and nft does not put it back: the node is then as useless as before its first policy, until a
 * run restores it.
 */
export class PolicyReadiness {
  private problem: string | null;

  constructor(early: Pick<EarlyEnforcement, 'policy' | 'error'>) {
    this.problem = early.policy !== null ? null : `no policy in force yet (${early.error === null ? 'no state file' : `state file not enforced: ${early.error}`})`;
  }

  /** Every run's outcome: its build is the policy in force, if any, while its table is. */
  observe(outcome: Pick<ReconcileOutcome, 'build' | 'errors' | 'tableInForce'>): void {
    const why = outcome.errors.map((e) => e.message).join('; ');
    if (outcome.build === null) {
      if (this.problem !== null && why !== '') this.problem = `no policy in force yet (${why})`;
    } else {
      this.problem = outcome.tableInForce ? null : `the ruleset is not in force, only the guard (${why || 'nft did not restore it'})`;
    }
  }

  readonly readiness: Readiness = () => this.problem;
}
