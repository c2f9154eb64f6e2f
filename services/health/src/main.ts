import { createDb, refuseWiderLogin } from '@pgw/db';
import { EventBus } from '@pgw/events';
import { createLogger } from '@pgw/log';
import { createMetricsRegistry, serveMetricsWhenFree } from '@pgw/metrics';
import { runService } from '@pgw/runtime';
import { Gauge } from 'prom-client';
import { loadHealthConfig } from './config.js';
import { type HealthService, startHealthService } from './health-service.js';
import { ProberLeadership } from './leadership.js';
import { createHealthMetrics } from './probing/metrics.js';
import { HealthSettings } from './repositories/settings.js';

await runService('health', async () => {
  const config = loadHealthConfig();
  const logger = createLogger('health', config.PGW_LOG_LEVEL);
  // Each probe holds a connection only for its short record transaction.
  const db = createDb(config.PGW_DATABASE_URL, { applicationName: 'pgw-health', maxConnections: 10, serviceRole: 'pgw_health' });
  await refuseWiderLogin(db);
  const bus = new EventBus({ redisUrl: config.PGW_REDIS_URL, logger });
  const registry = createMetricsRegistry('health');
  // Registered once: the prober starts and stops with the leadership, the series stay.
  const metrics = createHealthMetrics(registry);
  const leader = new Gauge({ name: 'pgw_health_leader', help: '1 while this health service is the active prober (holds the lock), 0 on standby (issue 18)', registers: [registry] });
  const settings = new HealthSettings(db, logger);
  let periodMs = (await settings.load()).healthIntervalS * 1000;
  let health: HealthService | undefined;
  // Both nodes of an HA pair run health; one probes (leadership.ts). A single gateway always leads.
  const leadership = new ProberLeadership({
    databaseUrl: config.PGW_DATABASE_URL,
    logger,
    periodMs: async () => (periodMs = (await settings.load()).healthIntervalS * 1000),
    lead: async () => {
      health = await startHealthService({
        db,
        settings,
        bus,
        redisUrl: config.PGW_REDIS_URL,
        logger,
        registry,
        metrics,
        secretKey: config.PGW_SECRET_KEY,
        concurrency: config.PGW_HEALTH_CONCURRENCY,
        extraCa: config.PGW_HEALTH_CA_FILE?.certificates ?? [],
        proxyAllowNetworks: config.PGW_PROXY_ALLOW_CIDRS,
        ...(config.PGW_HEALTH_LIVENESS === 'off' ? { liveness: false as const } : {}),
      });
      leader.set(1);
    },
    standDown: async () => {
      leader.set(0);
      const stopping = health;
      health = undefined;
      await stopping?.stop();
      // A standby states nothing about proxies: only the leader's gauges are current (alerts read them).
      for (const gauge of [metrics.proxyUp, metrics.proxyLatencyMs, metrics.exitIpAlarm, metrics.checkTargetSuspected]) gauge.reset();
    },
  });
  const metricsPort = await serveMetricsWhenFree(registry, config.PGW_METRICS_HOST, config.PGW_METRICS_PORT, {
    taken: (error) => logger.error('the metrics port is held by another process: probing without /metrics and /healthz until it is free', { port: config.PGW_METRICS_PORT, error: error.message }),
    bound: () => logger.info('metrics port free again: serving /metrics and /healthz', { port: config.PGW_METRICS_PORT }),
  }, { hosts: { names: new Set(config.PGW_METRICS_HOSTNAMES), variable: 'PGW_METRICS_HOSTNAMES' }, healthz: () => `ok ${leadership.role}\n` });
  leadership.start();
  logger.info('health started; taking the prober lock if free', { periodMs });
  return {
    logger,
    stop: async () => {
      await metricsPort.close();
      await leadership.stop();
      await bus.close();
      await db.destroy();
    },
  };
});
