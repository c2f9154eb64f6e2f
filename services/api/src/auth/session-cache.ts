import type { AuthContext } from './auth-context.js';

export type CachedSession = Omit<AuthContext, 'via'>;

/**
 * Sessions verified against Postgres in the last `ttlMs`, by token string, so a busy client does
 * not cost a token verification and a user lookup on every request. This process forgets entries
 * itself when it revokes (logout, password/role change, user deletion), so its own revocations take
 * effect at once; the TTL bounds how long a change made behind its back (another process, manual SQL)
 * can go unseen.
 */
export class SessionCache {
  private readonly entries = new Map<string, { session: CachedSession; checkedAt: number }>();
  /** Bumped by every revocation: a lookup that started before one must not cache what it read. */
  private generationValue = 0;

  constructor(
    private readonly ttlMs = 1_000,
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  get generation(): number {
    return this.generationValue;
  }

  get(token: string): CachedSession | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    const now = this.now();
    if (now - entry.checkedAt >= this.ttlMs || entry.session.expiresAt.getTime() <= now) {
      this.entries.delete(token);
      return undefined;
    }
    return entry.session;
  }

  /** Stores a session read from Postgres, unless a revocation happened since `generation` was taken. */
  set(token: string, session: CachedSession, generation: number): void {
    if (generation !== this.generationValue) return;
    if (this.entries.size >= this.maxEntries) this.evictStale();
    this.entries.set(token, { session, checkedAt: this.now() });
  }

  forgetToken(jti: string): void {
    this.generationValue++;
    for (const [token, entry] of this.entries) if (entry.session.jti === jti) this.entries.delete(token);
  }

  forgetUser(userId: number): void {
    this.generationValue++;
    for (const [token, entry] of this.entries) if (entry.session.userId === userId) this.entries.delete(token);
  }

  private evictStale(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) if (now - entry.checkedAt >= this.ttlMs) this.entries.delete(token);
    // Still full of fresh entries (many distinct tokens within one TTL): start over rather than grow.
    if (this.entries.size >= this.maxEntries) this.entries.clear();
  }
}
