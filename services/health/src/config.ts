import { readFileSync } from 'node:fs';
import { fields, loadConfig } from '@pgw/config';
import { networkListSchema } from '@pgw/domain';
import { z } from 'zod';
import { parseCaBundle } from './probing/trusted-ca.js';

/** A PEM file of CAs the probe trusts for an https check URL; read and checked at start. */
const caFile = z
  .string()
  .refine((path) => path.startsWith('/'), 'must be an absolute path to a PEM file of CA certificates')
  .transform((path, ctx) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}` });
      return z.NEVER;
    }
    try {
      return { path, certificates: parseCaBundle(text) };
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `${path} ${(error as Error).message}` });
      return z.NEVER;
    }
  });

const schema = z.object({
  PGW_LOG_LEVEL: fields.logLevel,
  PGW_DATABASE_URL: fields.postgresUrl,
  PGW_REDIS_URL: fields.redisUrl,
  PGW_SECRET_KEY: fields.secretKey,
  PGW_METRICS_HOST: fields.listenHost.default('127.0.0.1'),
  PGW_METRICS_PORT: fields.tcpPort.default(9103),
  /** Names the metrics port answers to besides IP addresses and localhost (DNS rebinding: any other Host gets 421). */
  PGW_METRICS_HOSTNAMES: fields.hostNames,
  PGW_HEALTH_CONCURRENCY: fields.positiveInt(32, 1024),
  PGW_HEALTH_CA_FILE: caFile.optional(),
  /** One idle connection per proxy that notices its death without client traffic. */
  PGW_HEALTH_LIVENESS: z.enum(['on', 'off']).default('on'),
  /** Networks where a proxy may be although loopback, link-local or LAN (as the api's and the forwarder's). */
  PGW_PROXY_ALLOW_CIDRS: networkListSchema.default([]),
});

export type HealthConfig = z.infer<typeof schema>;

export function loadHealthConfig(env: NodeJS.ProcessEnv = process.env): HealthConfig {
  return loadConfig(schema, env);
}
