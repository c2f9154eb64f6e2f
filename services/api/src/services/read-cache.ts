/**
 * The answers of the hot reads (the mappings page, the dashboard status), kept for at most
 * `maxAgeMs` per key. At 500 requests/s almost every request is then served without Postgres,
 * Redis, row mapping or state computation; concurrent misses of one key share one load.
 *
 * Why a read may be that old: the other writers (the health service's proxy status in Postgres,
 * the agent's and forwarder's status records in Redis) reach the api with no other signal than
 * their notices, which may be lost; a bound on age needs none. The bound is below the console's
 * 200 ms reload debounce (ui/src/live/store.ts), so a reload a notice triggers always sees data
 * at least as new as that notice. The api's own writes call invalidate() after their commit
 * (services/api-services.ts), so an operator reads what was just saved.
 *
 * An answer past half its max age is still served while a fresh one loads in the background, so
 * under steady traffic no request waits for a load (those that did were the mappings page's tail).
 */
export class ReadCache {
  private readonly entries = new Map<string, { value: unknown; at: number }>();
  private readonly loading = new Map<string, Promise<unknown>>();
  private version = 0;

  constructor(
    private readonly maxAgeMs: number,
    /** Distinct keys (query strings) kept; beyond it the oldest is dropped. */
    private readonly maxEntries = 64,
    private readonly now: () => number = () => performance.now(),
  ) {}

  async get<T>(key: string, load: () => Promise<T>): Promise<T> {
    const entry = this.entries.get(key);
    const age = entry ? this.now() - entry.at : Infinity;
    if (age < this.maxAgeMs) {
      // A failed refresh is left to the next request past the max age, which then waits for a load and sees its error.
      if (age >= this.maxAgeMs / 2 && !this.loading.has(key)) this.load(key, load).catch(() => undefined);
      return entry!.value as T;
    }
    return (this.loading.get(key) as Promise<T> | undefined) ?? this.load(key, load);
  }

  private load<T>(key: string, load: () => Promise<T>): Promise<T> {
    const version = this.version;
    const startedAt = this.now();
    const loaded = load().then(
      (value) => {
        // A write committed while this load ran: its answer may predate the write, so it is not kept.
        if (version === this.version) this.store(key, value, startedAt);
        return value;
      },
    ).finally(() => {
      if (this.loading.get(key) === loaded) this.loading.delete(key);
    });
    this.loading.set(key, loaded);
    return loaded;
  }

  /** After a write commits: nothing read before it is served again, and no load running now is kept. */
  invalidate(): void {
    this.version++;
    this.entries.clear();
    this.loading.clear();
  }

  private store(key: string, value: unknown, at: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, at });
  }
}
