import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REDIS_SERVICES, type RedisService, redisServiceUrl, redisUser, renderAclFile, sha256Hex } from '@pgw/events';
import { spawnProcess } from './process.js';
import { waitForFile } from './wait.js';
import type { LabProcess, RedisHandle } from './types.js';

export interface RedisStartOptions {
  dir: string;
  detached?: boolean;
  /** Called with each (re)started process so the owner can track it. */
  onStart?: (proc: LabProcess) => void;
}

/** Test code's own user (fixtures, inspection of any key); never given to a service. */
export const LAB_ADMIN_USER = 'pgw-lab-admin';

type LabRedisPasswords = Record<RedisService | 'admin', string>;

/** One random password per user, kept in the lab dir (0600) so a restarted redis takes the same ones. */
function labPasswords(dir: string): LabRedisPasswords {
  const file = join(dir, 'redis-passwords.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as LabRedisPasswords;
  const passwords = Object.fromEntries([...REDIS_SERVICES, 'admin'].map((user) => [user, randomBytes(24).toString('hex')])) as LabRedisPasswords;
  writeFileSync(file, JSON.stringify(passwords), { mode: 0o600 });
  return passwords;
}

/** A service's PGW_REDIS_URL for the lab whose Redis runs in `dir` (also for a detached lab, e.g. the demo's). */
export function labRedisUrl(dir: string, service: RedisService): string {
  return redisServiceUrl(join(dir, 'redis.sock'), redisUser(service), labPasswords(dir)[service]);
}

/** The services' users exactly as deployed (@pgw/events redis-acl.ts), plus the lab's admin. */
function writeAclFile(dir: string, passwords: LabRedisPasswords): string {
  const file = join(dir, 'users.acl');
  const hashes = Object.fromEntries(REDIS_SERVICES.map((service) => [service, sha256Hex(passwords[service])])) as Record<RedisService, string>;
  const admin = `user ${LAB_ADMIN_USER} on #${sha256Hex(passwords.admin)} ~* &* +@all\n`;
  writeFileSync(file, renderAclFile(hashes) + admin, { mode: 0o600 });
  return file;
}

/**
 * The lab's own Redis: no TCP port, a world-writable unix socket (unix sockets cross
 * network namespaces, so services inside the gateway ns reach it), no persistence. Like a
 * deployment it requires authentication: each service connects as its own ACL user
 * (`url(service)`); without credentials a client can only PING.
 */
export async function startRedis(opts: RedisStartOptions): Promise<RedisHandle> {
  mkdirSync(opts.dir, { recursive: true });
  const socketPath = join(opts.dir, 'redis.sock');
  const passwords = labPasswords(opts.dir);
  const aclFile = writeAclFile(opts.dir, passwords);
  let proc: LabProcess | undefined;

  async function start(): Promise<void> {
    if (proc?.isAlive()) throw new Error(`redis is already running (pid ${proc.pid})`);
    const argv = [
      'redis-server', '--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '777',
      '--save', '', '--appendonly', 'no', '--dir', opts.dir, '--daemonize', 'no', '--aclfile', aclFile,
    ];
    rmSync(socketPath, { force: true }); // a killed redis leaves its socket file behind
    proc = await spawnProcess(argv, { logFile: join(opts.dir, 'redis.log'), name: 'redis', detached: opts.detached });
    opts.onStart?.(proc);
    await waitForFile(socketPath, 5000, proc, 'redis socket');
  }

  await start();
  return {
    socketPath,
    url: (service: RedisService) => labRedisUrl(opts.dir, service),
    adminUrl: redisServiceUrl(socketPath, LAB_ADMIN_USER, passwords.admin),
    connection: (who: RedisService | 'admin') => ({ path: socketPath, username: who === 'admin' ? LAB_ADMIN_USER : redisUser(who), password: passwords[who] }),
    get pid() {
      return proc?.isAlive() ? proc.pid : undefined;
    },
    start,
    async stop() {
      await proc?.stop();
    },
  };
}
