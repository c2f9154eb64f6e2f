/**
 * Failed-login counters per source IP and per username in fixed windows. Kept in memory: the api is
 * a single process, and a throttle that needs Redis would either lock everyone out or let everyone
 * through while Redis is down.
 */
export interface ThrottleLimits {
  perIp: number;
  perUsername: number;
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = { perIp: 20, perUsername: 5, windowMs: 15 * 60_000 };

export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly limits: ThrottleLimits = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds to wait before trying again, or 0 when this attempt may proceed. */
  retryAfterSeconds(ip: string, username: string): number {
    const waits = [this.wait(`ip:${ip}`, this.limits.perIp), this.wait(`user:${username.toLowerCase()}`, this.limits.perUsername)];
    return Math.max(...waits);
  }

  recordFailure(ip: string, username: string): void {
    this.bump(`ip:${ip}`);
    this.bump(`user:${username.toLowerCase()}`);
  }

  /** A success clears the username's counter (the user knows the password), not the IP's. */
  recordSuccess(username: string): void {
    this.failures.delete(`user:${username.toLowerCase()}`);
  }

  private wait(key: string, limit: number): number {
    const entry = this.failures.get(key);
    if (!entry || entry.resetAt <= this.now()) return 0;
    return entry.count >= limit ? Math.ceil((entry.resetAt - this.now()) / 1000) : 0;
  }

  private bump(key: string): void {
    const now = this.now();
    const entry = this.failures.get(key);
    if (!entry || entry.resetAt <= now) {
      this.failures.set(key, { count: 1, resetAt: now + this.limits.windowMs });
      if (this.failures.size > 100_000) this.evictExpired(now);
    } else {
      entry.count++;
    }
  }

  private evictExpired(now: number): void {
    for (const [key, entry] of this.failures) if (entry.resetAt <= now) this.failures.delete(key);
  }
}
