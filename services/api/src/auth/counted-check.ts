import type { Reservation } from './login-throttle.js';
import { GateFull, type WorkGate } from '../logic/work-gate.js';

/**
 * A password check in the gate, its throttle reservation settled for what went wrong: refunded only
 * when no check began (GateFull, rethrown for a 429 "busy"); any other error stays counted, like a
 * wrong password. Refunded, a stream of attempts that fail inside the queue (input that makes the
 * user lookup throw) went uncounted and kept the queue full for every operator. The caller settles
 * a check that ran (succeeded or failed).
 */
export async function countedCheck<T>(gate: WorkGate, reservation: Reservation, check: () => Promise<T>, first = false): Promise<T> {
  try {
    return await gate.run(check, first);
  } catch (error) {
    if (error instanceof GateFull) reservation.abandoned();
    else reservation.failed();
    throw error;
  }
}
