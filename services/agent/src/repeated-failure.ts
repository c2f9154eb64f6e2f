/**
 * Whether a failure is worth a log line: a new one (another text) at once, the same one again at
 * most once per `everyMs` with how often it came meanwhile. A reconcile that keeps failing the
 * same way (a full disk under the state file, settings the agent refuses) logged an error at every
 * resync, every 2 s: 43 000 lines a day that bury the other services' in the journal. Pure.
 */
export class RepeatedFailure {
  private text: string | null = null;
  private loggedAt = 0;
  private repeats = 0;

  constructor(private readonly everyMs = 60_000) {}

  /** A failure now: null when it is not to be logged, else how often it came since its last line. */
  failed(text: string, now: number): { readonly repeatedSince: number } | null {
    if (text === this.text && now - this.loggedAt < this.everyMs) {
      this.repeats++;
      return null;
    }
    const repeatedSince = text === this.text ? this.repeats : 0;
    this.text = text;
    this.loggedAt = now;
    this.repeats = 0;
    return { repeatedSince };
  }

  /** A success: the next failure is new, whatever its text. */
  succeeded(): void {
    this.text = null;
  }
}
