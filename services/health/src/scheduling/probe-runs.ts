import type { ProbeTrigger } from '@pgw/events';
import { CoalescedRuns } from '@pgw/runtime';
import type { Prober } from '../probing/prober.js';
import type { Semaphore } from './semaphore.js';

/**
 * The probes this process runs for the requests the health service makes itself (periodic, upstream
 * failure, liveness): one at a time per proxy and trigger, and a request made while one runs gets
 * one more run after it (it may have dialed before what the request is about). Requests can come
 * faster than a probe ends (a crash-looping proxy makes its liveness watch ask every half second,
 * and holds each probe for the whole timeout): run side by side, they took the worker's slots that
 * every proxy's probes share. An operator's on-demand probe waits for its own result and is not run
 * here.
 */
export class ProbeRuns {
  private readonly byProxy = new Map<number, Map<ProbeTrigger, CoalescedRuns>>();

  constructor(
    private readonly prober: Prober,
    private readonly semaphore: Semaphore,
  ) {}

  /**
   * Asks for a probe that starts after this call. `folded` when one of the proxy's and trigger's
   * runs was in progress: the probe asked for is the one due after it, and `done` is that run's.
   */
  request(proxyId: number, trigger: ProbeTrigger): { readonly folded: boolean; readonly done: Promise<void> } {
    let ofProxy = this.byProxy.get(proxyId);
    if (ofProxy === undefined) this.byProxy.set(proxyId, (ofProxy = new Map()));
    let runs = ofProxy.get(trigger);
    if (runs === undefined) {
      runs = new CoalescedRuns(async () => void (await this.semaphore.run(() => this.prober.probe(proxyId, trigger))));
      ofProxy.set(trigger, runs);
    }
    const folded = runs.busy;
    return { folded, done: runs.request() };
  }

  /** Drops what is kept of a deleted proxy's runs once they have ended. */
  forget(proxyId: number): void {
    const ofProxy = this.byProxy.get(proxyId);
    if (ofProxy === undefined) return;
    void Promise.all([...ofProxy.values()].map((runs) => runs.idle())).then(() => {
      if (this.byProxy.get(proxyId) === ofProxy && ![...ofProxy.values()].some((runs) => runs.busy)) this.byProxy.delete(proxyId);
    });
  }

  /** Resolves once no run is in progress. */
  async drain(): Promise<void> {
    await Promise.all([...this.byProxy.values()].flatMap((ofProxy) => [...ofProxy.values()].map((runs) => runs.idle())));
  }
}
