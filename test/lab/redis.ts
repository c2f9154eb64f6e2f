import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnProcess } from './process.js';
import { waitForFile } from './wait.js';
import type { LabProcess, RedisHandle } from './types.js';

export interface RedisStartOptions {
  dir: string;
  detached?: boolean;
  /** Called with each (re)started process so the owner can track it. */
  onStart?: (proc: LabProcess) => void;
}

/**
 * The lab's own Redis: no TCP port, a world-writable unix socket (unix sockets cross
 * network namespaces, so services inside the gateway ns reach it), no persistence.
 */
export async function startRedis(opts: RedisStartOptions): Promise<RedisHandle> {
  mkdirSync(opts.dir, { recursive: true });
  const socketPath = join(opts.dir, 'redis.sock');
  let proc: LabProcess | undefined;

  async function start(): Promise<void> {
    if (proc?.isAlive()) throw new Error(`redis is already running (pid ${proc.pid})`);
    const argv = [
      'redis-server', '--port', '0', '--unixsocket', socketPath, '--unixsocketperm', '777',
      '--save', '', '--appendonly', 'no', '--dir', opts.dir, '--daemonize', 'no',
    ];
    rmSync(socketPath, { force: true }); // a killed redis leaves its socket file behind
    proc = await spawnProcess(argv, { logFile: join(opts.dir, 'redis.log'), name: 'redis', detached: opts.detached });
    opts.onStart?.(proc);
    await waitForFile(socketPath, 5000, proc, 'redis socket');
  }

  await start();
  return {
    socketPath,
    get pid() {
      return proc?.isAlive() ? proc.pid : undefined;
    },
    start,
    async stop() {
      await proc?.stop();
    },
  };
}
