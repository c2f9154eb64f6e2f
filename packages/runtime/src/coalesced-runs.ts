/**
 * Level-triggered work (load a state, converge to it) run one at a time. A call while a run is in
 * progress folds into exactly one more run after it, so every call is followed by a run that
 * started after it, and an older run never finishes after a newer one and undoes it.
 */
export class CoalescedRuns {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly work: () => Promise<void>) {}

  /**
   * Settles once a run that started after this call has finished: rejects with the error of the
   * last run of that sequence, if it failed.
   */
  request(): Promise<void> {
    if (this.running !== null) {
      this.again = true;
      return this.running;
    }
    this.running = this.loop();
    return this.running;
  }

  /** A run is in progress (or one more is due after it). */
  get busy(): boolean {
    return this.running !== null;
  }

  /** Resolves once no run is in progress (a failed one included). */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    let failure: { readonly error: unknown } | null = null;
    do {
      this.again = false;
      try {
        await this.work();
        failure = null;
      } catch (error) {
        failure = { error };
      }
    } while (this.again);
    // Cleared with the decision to stop, not in a later microtask: a call from here on starts a run
    // of its own instead of folding into a sequence that has ended.
    this.running = null;
    if (failure !== null) throw failure.error;
  }
}
