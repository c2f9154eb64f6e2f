import { createDb } from '@pgw/db';
import { EventBus } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { createMetricsRegistry, startMetricsServer } from '@pgw/metrics';
import { runService } from '@pgw/runtime';
import { loadHealthConfig } from './config.js';
import { startHealthService } from './health-service.js';

await runService('health', async () => {
  const config = loadHealthConfig();
  const logger = createLogger('health', config.PGW_LOG_LEVEL);
  // Each probe holds a connection only for its short record transaction.
  const db = createDb(config.PGW_DATABASE_URL, { applicationName: 'pgw-health', maxConnections: 10 });
  const bus = new EventBus({ redisUrl: config.PGW_REDIS_URL, logger });
  const registry = createMetricsRegistry('health');
  const health = await startHealthService({
    db,
    bus,
    redisUrl: config.PGW_REDIS_URL,
    logger,
    registry,
    secretKey: config.PGW_SECRET_KEY,
    concurrency: config.PGW_HEALTH_CONCURRENCY,
    extraCa: config.PGW_HEALTH_CA_FILE?.certificates ?? [],
    proxyAllowNetworks: config.PGW_PROXY_ALLOW_CIDRS,
    ...(config.PGW_HEALTH_LIVENESS === 'off' ? { liveness: false as const } : {}),
  });
  const metricsServer = await startMetricsServer(registry, config.PGW_METRICS_HOST, config.PGW_METRICS_PORT);
  return {
    logger,
    stop: async () => {
      metricsServer.close();
      await health.stop();
      await bus.close();
      await db.destroy();
    },
  };
});
