import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectRedis, NODE_SERVICES, REDIS_SERVICES, type RedisService, redisServiceUrl, redisUser, renderAclFile, sha256Hex } from '@pgw/events';
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

/** Per service and admin; an HA lab adds its nodes' agent and forwarder users as `<service>@<node>`. */
type LabRedisPasswords = Record<RedisService | 'admin', string> & Partial<Record<`${RedisService}@${string}`, string>>;

const passwordsFile = (dir: string) => join(dir, 'redis-passwords.json');
const newPassword = () => randomBytes(24).toString('hex');

/** One random password per user, kept in the lab dir (0600) so a restarted redis takes the same ones. */
function labPasswords(dir: string): LabRedisPasswords {
  const file = passwordsFile(dir);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as LabRedisPasswords;
  const passwords = Object.fromEntries([...REDIS_SERVICES, 'admin'].map((user) => [user, newPassword()])) as LabRedisPasswords;
  writeFileSync(file, JSON.stringify(passwords), { mode: 0o600 });
  return passwords;
}

/** The HA nodes the lab's Redis has per-node users for (none: a single gateway's shared users). */
function labNodes(passwords: LabRedisPasswords): string[] {
  return [...new Set(Object.keys(passwords).flatMap((key) => (key.includes('@') ? [key.slice(key.indexOf('@') + 1)] : [])))];
}

/** A service's PGW_REDIS_URL for the lab whose Redis runs in `dir` (also for a detached lab, e.g. the demo's); with `node`, that HA node's user. */
export function labRedisUrl(dir: string, service: RedisService, node?: string): string {
  const passwords = labPasswords(dir);
  const password = node === undefined ? passwords[service] : passwords[`${service}@${node}`];
  if (password === undefined) throw new Error(`the lab's Redis has no user for ${service} of node ${node} (usePerNodeUsers first)`);
  return redisServiceUrl(join(dir, 'redis.sock'), redisUser(service, node), password);
}

/** The services' users exactly as deployed (@pgw/events redis-acl.ts), plus the lab's admin. */
function writeAclFile(dir: string, passwords: LabRedisPasswords): string {
  const file = join(dir, 'users.acl');
  const hashes = Object.fromEntries(REDIS_SERVICES.map((service) => [service, sha256Hex(passwords[service])])) as Record<RedisService, string>;
  const nodes = labNodes(passwords).map((node) => ({
    node,
    passwordHashes: { agent: sha256Hex(passwords[`agent@${node}`]!), forwarder: sha256Hex(passwords[`forwarder@${node}`]!) },
  }));
  const admin = `user ${LAB_ADMIN_USER} on #${sha256Hex(passwords.admin)} ~* &* +@all\n`;
  writeFileSync(file, renderAclFile(hashes, undefined, nodes) + admin, { mode: 0o600 });
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
    url: (service: RedisService, node?: string) => labRedisUrl(opts.dir, service, node),
    async usePerNodeUsers(nodes) {
      const current = labPasswords(opts.dir);
      const added = { ...current };
      for (const node of nodes) for (const service of NODE_SERVICES) added[`${service}@${node}`] ??= newPassword();
      writeFileSync(passwordsFile(opts.dir), JSON.stringify(added), { mode: 0o600 });
      writeAclFile(opts.dir, added);
      const admin = connectRedis(redisServiceUrl(socketPath, LAB_ADMIN_USER, passwords.admin), { maxRetriesPerRequest: 1 });
      try {
        await admin.call('ACL', 'LOAD');
      } finally {
        admin.disconnect();
      }
    },
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
