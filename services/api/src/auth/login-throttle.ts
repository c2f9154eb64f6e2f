import { clientNetworkKey } from '@pgw/domain';

/**
 * Login attempts counted in fixed windows, reserved BEFORE the password is checked: concurrent
 * attempts each take a place, so a burst cannot slip past the limit while the checks are running.
 *
 * Keys: (source address, username), so failures from one address never lock the user out from
 * another; the source address alone, against one address spraying many usernames; and a global
 * ceiling across all addresses, which bounds distributed guessing (it can refuse everyone, but only
 * for its short window and only while the attack goes on). An IPv6 source counts as its /64
 * (clientNetworkKey): one host holds all of it, and would otherwise rotate past both address keys
 * to the global ceiling, refusing every login.
 *
 * Kept in memory: the api is a single process, and a throttle that needs Redis would either lock
 * everyone out or let everyone through while Redis is down. The global ceiling also bounds how many
 * keys a window can create, so the map cannot be grown without limit.
 */
export interface ThrottleLimits {
  perAddressAndUser: number;
  perAddress: number;
  windowMs: number;
  global: number;
  globalWindowMs: number;
}

/** A user's known browsers together may try this many times a device's limit a window. */
const DEVICES_PER_USER_FACTOR = 2;

export const DEFAULT_THROTTLE: ThrottleLimits = { perAddressAndUser: 5, perAddress: 20, windowMs: 15 * 60_000, global: 120, globalWindowMs: 60_000 };

interface Window {
  count: number;
  resetAt: number;
}

interface Counted {
  key: string;
  window: Window;
}

/** One reserved attempt: settle it exactly once with what the check found. */
export interface Reservation {
  /** Right password: the (address, username) counter starts over, the attempt is refunded elsewhere (a device's attempts stay counted). */
  succeeded(): void;
  /** Wrong username or password: the attempt stays counted. */
  failed(): void;
  /** No password was checked (busy, an error): the attempt is refunded everywhere. */
  abandoned(): void;
}

export type ReserveResult = { reservation: Reservation } | { retryAfterSeconds: number };

export class LoginThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly limits: ThrottleLimits = DEFAULT_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  reserve(sourceAddress: string, username: string): ReserveResult {
    const address = clientNetworkKey(sourceAddress);
    // An address cannot contain NUL, so the pair key is unambiguous whatever the username holds.
    return this.reserveKeys([
      [`pair:${address}\u0000${username.toLowerCase()}`, this.limits.perAddressAndUser, this.limits.windowMs],
      [`addr:${address}`, this.limits.perAddress, this.limits.windowMs],
      ['global', this.limits.global, this.limits.globalWindowMs],
    ]);
  }

  /**
   * An attempt from a browser that logged in as this user before (its device cookie: device-
   * cookies.ts): counted per device and for all of the user's devices together, outside the address
   * and global limits, which a distributed storm fills for everyone else. Every attempt counts,
   * successes too: a user could otherwise log in again and again for new cookies, each a lane past
   * the storm's limits and first in the password queue, and keep the queue full for everyone.
   */
  reserveDevice(deviceId: string, username: string): ReserveResult {
    return this.reserveKeys(
      [
        [`device:${deviceId}`, this.limits.perAddressAndUser, this.limits.windowMs],
        [`devices:${username.toLowerCase()}`, DEVICES_PER_USER_FACTOR * this.limits.perAddressAndUser, this.limits.windowMs],
      ],
      false,
    );
  }

  /**
   * Reserves an attempt in every window of `keys`, or none. `successFree`: a success forgets the
   * first window and refunds the others (an address and username pair); otherwise it counts.
   */
  private reserveKeys(keys: readonly [key: string, limit: number, windowMs: number][], successFree = true): ReserveResult {
    const now = this.now();
    const waits = keys.map(([key, limit]) => {
      const w = this.live(key, now);
      return w && w.count >= limit ? Math.ceil((w.resetAt - now) / 1000) : 0;
    });
    if (waits.some((s) => s > 0)) return { retryAfterSeconds: Math.max(...waits) };
    // Windows are created only for attempts that are counted, and dropped again when refunded to
    // zero: refused attempts leave nothing behind.
    const counted = keys.map(([key, , windowMs]) => this.count(key, windowMs, now));
    const [own, ...shared] = counted as [Counted, ...Counted[]];
    let settled = false;
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      action();
    };
    return {
      reservation: {
        succeeded: () =>
          settle(() => {
            if (!successFree) return;
            this.forget(own);
            for (const c of shared) this.refund(c);
          }),
        failed: () => settle(() => undefined),
        abandoned: () => settle(() => counted.forEach((c) => this.refund(c))),
      },
    };
  }

  private live(key: string, now: number): Window | undefined {
    const w = this.windows.get(key);
    return w && w.resetAt > now ? w : undefined;
  }

  private count(key: string, windowMs: number, now: number): Counted {
    let window = this.live(key, now);
    if (!window) {
      window = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
      if (this.windows.size > 10_000) this.evictExpired(now);
    }
    window.count++;
    return { key, window };
  }

  /** Takes back one attempt from the window it was counted in; a window that has ended since is left alone. */
  private refund({ key, window }: Counted): void {
    window.count = Math.max(0, window.count - 1);
    if (window.count === 0 && this.windows.get(key) === window) this.windows.delete(key);
  }

  private forget({ key, window }: Counted): void {
    if (this.windows.get(key) === window) this.windows.delete(key);
  }

  private evictExpired(now: number): void {
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
  }
}
