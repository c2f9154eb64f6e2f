/**
 * Client load for the chaos matrix: the operations benches' LAN load (bench/ops-lan-load.ts,
 * continuous and streamed) in which each client, one request at a time, opens a fresh connection
 * to the IP-echo host and asks who it is, pausing pauseMs between requests. A request is effective
 * only when the echo host saw the client's own proxy. Every finished request is reported at once
 * (wall-clock times), so the test can wait for recovery while the load runs. Bounded: it stops on
 * stop() or after maxRunMs.
 */
import { type LanLoad, startContinuous, type StreamedRequest } from '../bench/ops-lan-load.js';
import { Wakeups } from '../support/wakeups.js';

export interface LoadClient {
  readonly ip: string;
  /** The address the echo host must report: the client's proxy. */
  readonly expectedExitIp: string;
}

/** A finished request: client index, Date.now() at its start and end, outcome. */
export type LoadRequest = StreamedRequest;

export class ChaosLoad {
  readonly requests: LoadRequest[] = [];
  private readonly wakeups = new Wakeups();
  private load: LanLoad<unknown> | null = null;

  private constructor(readonly clients: readonly LoadClient[]) {}

  static async start(opts: { ns: string; clients: readonly LoadClient[]; url: string; pauseMs: number; connectTimeoutMs: number; responseTimeoutMs: number; maxRunMs: number }): Promise<ChaosLoad> {
    const chaos = new ChaosLoad(opts.clients);
    chaos.load = await startContinuous(opts, (request) => {
      chaos.requests.push(request);
      chaos.wakeups.wake();
    });
    chaos.load.go();
    return chaos;
  }

  /**
   * When every client is effective again after a fault that began at faultAt and ended at endAt:
   * waits until each client's latest request started at or after endAt and succeeded (requests of
   * one client never overlap). Returns the end of the first success after each client's last
   * failure since faultAt, the latest over the clients (faultAt itself when none failed); null
   * after timeoutMs.
   */
  async recovered(faultAt: number, endAt: number, timeoutMs: number): Promise<number | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const latest = this.clients.map((_, c) => this.requests.filter((r) => r.client === c).at(-1));
      if (latest.every((r) => r !== undefined && r.start >= endAt && r.ok)) return this.backAt(faultAt);
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await this.wakeups.next(Math.min(left, 500));
    }
  }

  private backAt(since: number): number {
    let back = since;
    for (let c = 0; c < this.clients.length; c++) {
      const mine = this.requests.filter((r) => r.client === c && r.end >= since);
      const lastFailure = mine.filter((r) => !r.ok).at(-1);
      if (!lastFailure) continue;
      const success = mine.find((r) => r.ok && r.start >= lastFailure.start);
      back = Math.max(back, success!.end);
    }
    return back;
  }

  /** Requests that ended in [from, to]. */
  between(from: number, to: number): LoadRequest[] {
    return this.requests.filter((r) => r.end >= from && r.end <= to);
  }

  stop(): void {
    const load = this.load;
    load?.stop();
    setTimeout(() => load?.kill(), 5000).unref();
  }
}
