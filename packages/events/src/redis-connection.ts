import { Redis, type RedisOptions } from 'ioredis';

/** Reconnect with capped exponential backoff; never give up (services ride out a Redis restart). */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 6), 5_000);
}

/**
 * Accepts `redis://user:password@host:port/db` or an absolute Unix socket path, with the service's
 * credentials as `?username=…&password=…` (services inside the gateway namespace reach Redis
 * through its socket file). ioredis parses both forms itself.
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { retryStrategy: reconnectDelayMs, lazyConnect: false, ...options });
}
