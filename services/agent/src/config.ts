import { fields, loadConfig } from '@pgw/config';
import { z } from 'zod';

const absolutePath = z.string().refine((s) => s.startsWith('/'), 'must be an absolute path');
const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'must be a system user name');

export const agentConfigSchema = z.object({
  PGW_LOG_LEVEL: fields.logLevel,
  PGW_DATABASE_URL: fields.postgresUrl,
  PGW_REDIS_URL: fields.redisUrl,
  PGW_METRICS_HOST: fields.listenHost.default('127.0.0.1'),
  PGW_METRICS_PORT: fields.tcpPort.default(9101),
  PGW_STATE_DIR: absolutePath.default('/var/lib/pgw/agent'),
  PGW_RESYNC_INTERVAL_MS: fields.positiveInt(1000, 2000),
  PGW_NFT_BIN: absolutePath.default('/usr/sbin/nft'),
  PGW_CONNTRACK_BIN: absolutePath.default('/usr/sbin/conntrack'),
  PGW_FORWARDER_USER: userName.default('pgw'),
  PGW_HEALTH_USER: userName.default('pgw-health'),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

export function loadAgentConfig(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return loadConfig(agentConfigSchema, env);
}
