import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDb, type Db } from '@pgw/db';
import { EventBus } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { Registry } from 'prom-client';
import { type HealthService, startHealthService } from '../../services/health/src/health-service.js';
import { startDante } from '../../lab/proxies.js';
import { startRedis } from '../../lab/redis.js';
import type { ProxyHandle, RedisHandle } from '../../lab/types.js';
import type { ApiConfig } from '../../services/api/src/config.js';
import { after, before } from 'node:test';
import { ADMIN, ApiHarness, type Session } from './api-harness.js';

/**
 * The api with everything real behind it: a private Redis (so this file owns the default stream and
 * BullMQ prefix), the real health service (role pgw_health) answering the health gate, a real dante
 * on a loopback address and an IP-echo server as the check URL.
 */
export class ApiStack {
  private constructor(
    readonly harness: ApiHarness,
    readonly redis: RedisHandle,
    readonly dante: ProxyHandle,
    /** A loopback address and port where nothing listens: a proxy that is down. */
    readonly deadEndpoint: { host: string; port: number },
    private readonly cleanup: (() => Promise<unknown>)[],
  ) {}

  /** `overrides`: api settings of the test, e.g. PGW_UI_DIR to serve the built console. */
  static async start(overrides: Partial<ApiConfig> = {}): Promise<ApiStack> {
    const cleanup: (() => Promise<unknown>)[] = [];
    const run = async () => {
      for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
    };
    try {
      const subnet = `127.63.${randomInt(1, 250)}`;
      const redisDir = mkdtempSync(join(tmpdir(), 'pgw-api-test-'));
      cleanup.push(async () => rmSync(redisDir, { recursive: true, force: true }));
      const redis = await startRedis({ dir: redisDir });
      cleanup.push(() => redis.stop());
      const echo: Server = createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ip: req.socket.remoteAddress })));
      await new Promise<void>((resolve, reject) => echo.once('error', reject).listen(0, `${subnet}.100`, resolve));
      cleanup.push(async () => echo.close());
      const dante = await startDante({ ip: `${subnet}.11`, port: 1080 });
      cleanup.push(() => dante.stop());
      // The proxies live on loopback (the only network a test outside the lab has): the operator's
      // exception for proxies where they would be refused (PGW_PROXY_ALLOW_CIDRS), this subnet only.
      const harness = await ApiHarness.start({ PGW_REDIS_URL: redis.url('api'), PGW_PROXY_ALLOW_CIDRS: [`${subnet}.0/24`], ...overrides }, { stream: undefined, queuePrefix: undefined });
      cleanup.push(() => harness.stop());
      const checkUrl = `http://${subnet}.100:${(echo.address() as AddressInfo).port}/ip`;
      await harness.db.updateTable('settings').set({ checkUrl, probeTimeoutMs: 2000 }).where('id', '=', 1).execute();
      const logger = createLogger('health-for-api-test', 'error');
      const healthDb: Db = createDb(harness.database.urlFor('pgw_health'), { applicationName: 'pgw-health-test' });
      const bus = new EventBus({ redisUrl: redis.url('health'), logger });
      const health: HealthService = await startHealthService({
        db: healthDb, bus, redisUrl: redis.url('health'), logger, registry: new Registry(), secretKey: harness.secretKey, concurrency: 4,
        proxyAllowNetworks: [`${subnet}.0/24`],
      });
      cleanup.push(async () => {
        await health.stop();
        await bus.close();
        await healthDb.destroy();
      });
      return new ApiStack(harness, redis, dante, { host: `${subnet}.12`, port: 1080 }, cleanup);
    } catch (error) {
      await run();
      throw error;
    }
  }

  async stop(): Promise<void> {
    for (const fn of this.cleanup.reverse()) await fn().catch(() => undefined);
  }
}

/**
 * An ApiStack for a describe block: started before its tests with the first admin logged in,
 * stopped after them. Read the fields inside the tests (they are set by then).
 */
export function useApiStack(): { readonly stack: ApiStack; readonly h: ApiHarness; readonly admin: Session; readonly as: (session: Session) => { auth: { bearer: string } } } {
  const hooks = { stack: undefined as unknown as ApiStack, h: undefined as unknown as ApiHarness, admin: undefined as unknown as Session, as: (session: Session) => ({ auth: { bearer: session.token } }) };
  before(async () => {
    hooks.stack = await ApiStack.start();
    hooks.h = hooks.stack.harness;
    hooks.admin = await hooks.h.login(ADMIN);
  });
  after(async () => {
    await hooks.stack?.stop();
  });
  return hooks;
}
