import type { Router } from 'express';
import { strictRouter } from '../http/router.js';
import { sql } from 'kysely';
import type { ApiContext } from '../context.js';

async function within<T>(ms: number, work: Promise<T>): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work, timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness and readiness; /metrics is served by the metrics listener (start-api.ts), not on the API port. */
export function opsRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [postgres, redis] = await Promise.all([
      within(2_000, sql`SELECT 1`.execute(ctx.db).then(() => true)),
      within(2_000, ctx.redis.ping().then((pong) => pong === 'PONG')),
    ]);
    const ready = postgres === true && redis === true;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: { postgres: postgres === true, redis: redis === true } });
  });
  return router;
}
