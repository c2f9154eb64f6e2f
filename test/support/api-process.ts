/**
 * The built api as a process of its own, launched exactly as SERVICE_SPECS says (the production
 * node flags), for tests and benchmarks that need the api alone, without a lab.
 */
import { randomBytes } from 'node:crypto';
import { sealingPublicKey } from '@pgw/crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnProcess } from '../../lab/process.js';
import type { LabProcess } from '../../lab/types.js';
import type { TestDatabase } from './database.js';
import { freeLoopbackPort, REPO_ROOT, SERVICE_SPECS, serviceEntry } from './gateway.js';
import { waitFor } from '../../lab/wait.js';

export interface ApiProcessOptions {
  database: TestDatabase;
  redisUrl: string;
  /** Where its log file goes. */
  dir: string;
  /** Created at first start (PGW_ADMIN_USERNAME/PASSWORD). */
  admin: { username: string; password: string };
  name?: string;
  logLevel?: string;
  /** Extra node options, e.g. --cpu-prof for a profile. */
  nodeArgs?: string[];
}

export interface ApiProcess {
  proc: LabProcess;
  url: string;
  /** Its metrics listener (PGW_API_METRICS_PORT): `${metricsUrl}/metrics`. */
  metricsUrl: string;
  logFile: string;
}

/** Starts the api's bundle on a free loopback port and resolves once /readyz answers 200. */
export async function startApiProcess(options: ApiProcessOptions): Promise<ApiProcess> {
  const name = options.name ?? 'api';
  const port = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(options.dir, `${name}.log`);
  const argv = ['node', ...SERVICE_SPECS.api.nodeFlags, ...(options.nodeArgs ?? []), serviceEntry('api')];
  const proc = await spawnProcess(argv, {
    logFile,
    name: 'pgw-api',
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      PGW_LOG_LEVEL: options.logLevel ?? 'info',
      PGW_DATABASE_URL: options.database.urlFor('pgw_api'),
      PGW_REDIS_URL: options.redisUrl,
      PGW_SECRET_PUBLIC_KEY: sealingPublicKey(randomBytes(32)).toString('base64'),
      PGW_JWT_SECRET: randomBytes(32).toString('hex'),
      PGW_CSRF_SECRET: randomBytes(32).toString('hex'),
      PGW_API_PORT: String(port),
      PGW_API_METRICS_PORT: String(metricsPort),
      PGW_ADMIN_USERNAME: options.admin.username,
      PGW_ADMIN_PASSWORD: options.admin.password,
    },
  });
  try {
    await waitFor(`${name} ready`, 30_000, async () => {
      if (!proc.isAlive()) throw new Error(`api exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      return fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
    }, { intervalMs: 100 });
  } catch (error) {
    await proc.kill();
    throw error;
  }
  return { proc, url, metricsUrl: `http://127.0.0.1:${metricsPort}`, logFile };
}
