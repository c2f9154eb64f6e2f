import { Redis, type RedisOptions } from 'ioredis';

/** Reconnect with capped exponential backoff; never give up (services ride out a Redis restart). */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(attempt, 6), 5_000);
}

/**
 * Accepts `redis://host:port/db` or an absolute Unix socket path (services inside the gateway
 * namespace reach Redis through its socket file).
 */
export function connectRedis(url: string, options: RedisOptions = {}): Redis {
  const common: RedisOptions = { retryStrategy: reconnectDelayMs, lazyConnect: false, ...options };
  return url.startsWith('/') ? new Redis({ ...common, path: url }) : new Redis(url, common);
}
