import type { Db } from '@pgw/db';
import type { EventBus } from '@pgw/events';
import type { Logger } from '@pgw/log';
import type { DoubleCsrfUtilities } from 'csrf-csrf';
import type { Redis } from 'ioredis';
import type { LoginMetrics } from './auth/login-metrics.js';
import type { DeviceCookies } from './auth/device-cookies.js';
import type { LoginThrottle } from './auth/login-throttle.js';
import type { SessionCache } from './auth/session-cache.js';
import type { EventFanout } from './live/event-fanout.js';
import type { TokenIssuer } from './auth/tokens.js';
import type { WorkGate } from './logic/work-gate.js';
import type { ApiServices } from './services/api-services.js';
import type { SseStreams } from './live/sse-streams.js';

/** Everything the route handlers share, built once by main.ts (or a test). */
export interface ApiContext {
  readonly db: Db;
  /** Status keys and readiness; fails fast while Redis is down (no offline queue). */
  readonly redis: Redis;
  readonly bus: EventBus;
  /** The SSE streams' notices: one shared tail of the streams for all of them. */
  readonly events: EventFanout;
  /** The use cases (services/): mappings, proxies, CSV, settings. */
  readonly services: ApiServices;
  readonly tokens: TokenIssuer;
  /** Forget a user's or token's entries after every revocation, or it stays valid for up to its TTL. */
  readonly sessions: SessionCache;
  readonly throttle: LoginThrottle;
  /** Known browsers' login cookies: their attempts are counted apart from a storm's (device-cookies.ts). */
  readonly devices: DeviceCookies;
  /** Every argon2 check or hash runs through it (64 MiB each while it runs): bounds memory under a login storm. */
  readonly passwordGate: WorkGate;
  readonly loginMetrics: LoginMetrics;
  readonly csrf: DoubleCsrfUtilities;
  readonly logger: Logger;
  readonly sseHeartbeatMs: number;
  readonly streams: SseStreams;
}
