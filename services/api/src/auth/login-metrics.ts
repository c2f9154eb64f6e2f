import { Counter, type Registry } from 'prom-client';

/** What logins cost and how many were turned away before costing anything. */
export interface LoginMetrics {
  /** argon2 verifications done for logins (each holds 64 MiB and ~0.1 s of a core). */
  readonly passwordChecks: Counter;
  /** Logins answered 429 without a password check: `throttled` (attempt limits) or `busy` (check queue full). */
  readonly refusals: Counter<'reason'>;
}

export function createLoginMetrics(registry: Registry): LoginMetrics {
  return {
    passwordChecks: new Counter({ name: 'pgw_api_login_password_checks_total', help: 'argon2 password verifications done for logins', registers: [registry] }),
    refusals: new Counter({
      name: 'pgw_api_login_refusals_total',
      help: 'Logins refused with 429 before any password check, by reason (throttled, busy)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
  };
}
