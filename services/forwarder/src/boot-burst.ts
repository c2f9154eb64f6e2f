/** How often the accept counter is read while waiting. */
const POLL_MS = 25;

export interface BurstWait {
  /** The burst is over once no connection was accepted for this long... */
  readonly quietMs: number;
  /** ...or this long after the wait began, whichever comes first. */
  readonly maxMs: number;
}

/**
 * Resolves once a rebooted gateway's first burst of clients has been accepted: connections came in
 * (`accepted()` grew) and then none for `quietMs`; or `maxMs` after the call (nobody connects, or
 * clients keep coming). main.ts loads the forwarder's heavy modules only then: their second of CPU
 * would otherwise run in the event loop that relays that burst. Waiting for the first connection,
 * not only for a quiet moment, matters: the listeners open while the agent still applies the DNAT
 * rules, so the first quiet moment comes before any client can reach them.
 */
export function burstAccepted(accepted: () => number, wait: BurstWait): Promise<void> {
  const started = performance.now();
  const before = accepted();
  let last = before;
  let lastChange = started;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      const count = accepted();
      if (count !== last) {
        last = count;
        lastChange = now;
      }
      if (now - started >= wait.maxMs || (last !== before && now - lastChange >= wait.quietMs)) {
        clearInterval(timer);
        resolve();
      }
    }, Math.min(POLL_MS, wait.quietMs));
  });
}
