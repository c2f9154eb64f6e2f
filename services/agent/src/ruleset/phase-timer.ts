/** Wall time of each named phase of one reconcile run (ms, summed when a phase runs twice): where a run spends its time. */
export class PhaseTimer {
  readonly phases: Record<string, number> = {};

  constructor(private readonly now: () => number) {}

  async time<T>(phase: string, fn: () => Promise<T> | T): Promise<T> {
    const started = this.now();
    try {
      return await fn();
    } finally {
      this.phases[phase] = Math.round(((this.phases[phase] ?? 0) + this.now() - started) * 10) / 10;
    }
  }
}
