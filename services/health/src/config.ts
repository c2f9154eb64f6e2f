import { fields, loadConfig } from '@pgw/config';
import { z } from 'zod';

const schema = z.object({
  PGW_LOG_LEVEL: fields.logLevel,
  PGW_DATABASE_URL: fields.postgresUrl,
  PGW_REDIS_URL: fields.redisUrl,
  PGW_SECRET_KEY: fields.secretKey,
  PGW_METRICS_HOST: fields.listenHost.default('127.0.0.1'),
  PGW_METRICS_PORT: fields.tcpPort.default(9103),
  PGW_HEALTH_CONCURRENCY: fields.positiveInt(32, 1024),
});

export type HealthConfig = z.infer<typeof schema>;

export function loadHealthConfig(env: NodeJS.ProcessEnv = process.env): HealthConfig {
  return loadConfig(schema, env);
}
