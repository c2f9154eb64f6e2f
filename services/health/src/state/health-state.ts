import type { ProxyStatus } from '@pgw/domain';

/** What the state machine remembers about a proxy between probes (the proxies row's status columns). */
export interface HealthState {
  readonly status: ProxyStatus;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
}

export interface Thresholds {
  /** Consecutive failures that take an up proxy down (settings.failThreshold, default 1). */
  readonly failThreshold: number;
  /** Consecutive successes that bring a down proxy back up (settings.recoverThreshold, default 2). */
  readonly recoverThreshold: number;
}

export const INITIAL_STATE: HealthState = { status: 'unknown', consecutiveSuccesses: 0, consecutiveFailures: 0 };

/**
 * Fail closed. unknown is never up: it becomes up on its first successful layer-7 probe (a new or
 * edited proxy has no flapping history, and the mapping health gate waits for exactly that probe),
 * and down on its first failure. An up proxy goes down after failThreshold consecutive failures;
 * a down proxy needs recoverThreshold consecutive successes to come back.
 */
export function applyProbe(state: HealthState, ok: boolean, thresholds: Thresholds): HealthState {
  if (ok) {
    const consecutiveSuccesses = state.consecutiveSuccesses + 1;
    const recovered = state.status === 'down' ? consecutiveSuccesses >= thresholds.recoverThreshold : true;
    return { status: recovered ? 'up' : 'down', consecutiveSuccesses, consecutiveFailures: 0 };
  }
  const consecutiveFailures = state.consecutiveFailures + 1;
  const failed = state.status === 'up' ? consecutiveFailures >= thresholds.failThreshold : true;
  return { status: failed ? 'down' : 'up', consecutiveSuccesses: 0, consecutiveFailures };
}
