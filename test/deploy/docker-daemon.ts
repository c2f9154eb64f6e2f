/**
 * A private Docker Engine for the deployment tests, never in the machine's own network namespace
 * (it would create bridges and rules there): dockerd is started with `nsenter --net` in a namespace
 * the test created (`ip netns exec` cannot be used: it remounts /sys and dockerd then finds no
 * devices cgroup), without a default bridge and without iptables. Containers with
 * `network_mode: host` then live in that namespace, e.g. the lab's gateway.
 * The data root is a cache kept between runs (built images and layers); a lock file keeps two
 * runs from sharing it. stop() removes every container, volume and network it created; images stay
 * (the cache: pruning untagged ones would drop the build stage's layers, `npm ci` included).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { onProcessExit } from '../../lab/exit-hooks.js';
import { spawnProcess } from '../../lab/process.js';
import type { ExecResult, LabProcess } from '../../lab/types.js';
import { waitFor } from '../../lab/wait.js';

export const DEPLOY_CACHE = process.env.PGW_DEPLOY_CACHE ?? '/var/cache/pgw-deploy';
/** The docker.io package's client (the same engine version; not a client installed by hand). */
export const DOCKER = process.env.DOCKER ?? '/usr/bin/docker';

export interface DockerDaemon {
  /** DOCKER_HOST for clients, unix://<dir>/docker.sock */
  readonly host: string;
  readonly dir: string;
  /** dockerd, while the engine runs. */
  readonly proc: LabProcess | undefined;
  /** `docker <args>` against this daemon; a non-zero exit throws unless reject is false. */
  docker(args: readonly string[], opts?: { reject?: boolean; input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Runs a program (docker-compose, a build script) with DOCKER_HOST set to this daemon. */
  run(argv: readonly string[], opts?: { env?: Record<string, string>; reject?: boolean; timeoutMs?: number; cwd?: string }): Promise<ExecResult>;
  /** A reboot of the engine: stopEngine() stops dockerd (and its containers, as at shutdown), startEngine() starts it again. */
  stopEngine(): Promise<void>;
  startEngine(): Promise<void>;
  /** Removes every container, volume and network, then stops dockerd. */
  stop(): Promise<void>;
}

/** Where dockerd looks for a containerd already running (moby's systemContainerdRunning: the file's existence alone). */
export const SYSTEM_CONTAINERD_SOCKET = '/run/containerd/containerd.sock';

/**
 * dockerd uses a containerd found at its default address instead of starting its own, and a
 * container's network namespace is then that containerd's: with a system containerd (docker.io's
 * containerd.service on a host that booted with it), the tests' host-network containers, a guard and
 * an agent with CAP_NET_ADMIN among them, would load their nft tables and write their sysctls in
 * the machine's own namespace. Refused before dockerd starts, saying how to proceed.
 */
export function refuseSystemContainerd(socket = SYSTEM_CONTAINERD_SOCKET): void {
  if (!existsSync(socket)) return;
  throw new Error(`a containerd listens on ${socket} (or left its socket there): dockerd would use it, and the deploy tests' host-network containers would run in the machine's own network namespace, not the lab's; stop it first (systemctl stop docker.socket docker containerd) or remove a stale socket`);
}

/** Starts dockerd in network namespace `ns` (a name under /run/netns); /run/pgw-deploy/<ns> holds its socket, pid and exec root. */
export async function startDockerDaemon(ns: string): Promise<DockerDaemon> {
  const dir = join('/run/pgw-deploy', ns);
  mkdirSync(dir, { recursive: true });
  const dataRoot = join(DEPLOY_CACHE, 'docker');
  mkdirSync(dataRoot, { recursive: true });
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  // flock: the lock lives as long as dockerd, so a second run waits instead of sharing the data root.
  const argv = ['flock', '--wait', '900', join(DEPLOY_CACHE, 'docker.lock'),
    'nsenter', `--net=/run/netns/${ns}`, 'dockerd', '--data-root', dataRoot, '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'), '-H', host, '--bridge=none', '--iptables=false', '--ip6tables=false',
    '--ip-forward=false', '--ip-masq=false', '--userland-proxy=true'];
  const env = { ...process.env, DOCKER_HOST: host } as Record<string, string>;
  const run: DockerDaemon['run'] = async (cmd, opts = {}) => {
    const r = await execa(cmd[0]!, cmd.slice(1), { env: { ...env, ...opts.env }, reject: false, timeout: opts.timeoutMs ?? 900_000, cwd: opts.cwd, stdin: 'ignore' });
    if ((opts.reject ?? true) && r.exitCode !== 0) throw new Error(`${cmd.join(' ')} failed (${r.exitCode}): ${r.stderr.slice(-3000)}`);
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };
  const docker: DockerDaemon['docker'] = async (args, opts = {}) => {
    const r = await execa(DOCKER, args, { env, reject: false, input: opts.input, timeout: opts.timeoutMs ?? 120_000, stdin: opts.input === undefined ? 'ignore' : 'pipe' });
    if ((opts.reject ?? true) && r.exitCode !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.exitCode}): ${r.stderr.slice(-2000)}`);
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  };

  let proc: LabProcess | undefined;
  const logFile = join(dir, 'dockerd.log');
  const startEngine = async () => {
    // At every start, a restart of the engine included: a containerd may have come up meanwhile.
    refuseSystemContainerd();
    proc = await spawnProcess(argv, { logFile, name: 'dockerd', env: { ...process.env } as Record<string, string> });
    const running = proc;
    await waitFor(`dockerd answering on ${socket} (log ${logFile})`, 120_000, async () => {
      if (!running.isAlive()) throw new Error(`dockerd exited: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
      return existsSync(socket) && (await docker(['version', '--format', '{{.Server.Version}}'], { reject: false })).exitCode === 0;
    }, { intervalMs: 100 });
  };
  // SIGTERM to dockerd alone (not its process group: containerd must outlive it while it stops the
  // containers), as at a shutdown; SIGKILL to the whole group when it does not exit in time.
  const stopEngine = async () => {
    if (!proc) return;
    const running = proc;
    proc = undefined;
    const pidFile = join(dir, 'dockerd.pid');
    if (running.isAlive() && existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
    const timer = setTimeout(() => void running.kill(), 60_000);
    await running.exited;
    clearTimeout(timer);
    await running.stop(0); // any helper left in its group
  };

  /** Every container (with its anonymous volumes), every volume and every unused network of the engine; `reject`: a failure throws. */
  const removeAll = async (reject: boolean): Promise<{ containers: number; volumes: number }> => {
    const ids = (await docker(['ps', '-aq'], { reject })).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await docker(['rm', '-f', '-v', ...ids], { reject, timeoutMs: 120_000 });
    const volumes = (await docker(['volume', 'ls', '-q'], { reject })).stdout.split('\n').filter(Boolean);
    if (volumes.length > 0) await docker(['volume', 'rm', '-f', ...volumes], { reject });
    await docker(['network', 'prune', '-f'], { reject });
    return { containers: ids.length, volumes: volumes.length };
  };

  let stopped = false;
  const unhook = onProcessExit(() => {
    // Last resort on an abrupt exit: dockerd stops its containers when it gets SIGTERM.
    if (proc?.isAlive()) execFileSync('kill', ['-TERM', String(proc.pid)]);
  });
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (proc?.isAlive()) {
      await removeAll(false);
      await stopEngine();
    }
    unhook();
    // dockerd leaves its namespace file bind-mounted; only once nothing is mounted below the
    // directory is it removed (a container's root filesystem would otherwise be emptied).
    const mountsBelow = () => readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${dir}/`));
    for (const mount of mountsBelow().reverse()) await execa('umount', [mount], { reject: false });
    if (mountsBelow().length === 0) rmSync(dir, { recursive: true, force: true });
  };
  // A run that died before its stop() (SIGKILL) left its containers and volumes in the data root;
  // those with a restart policy started again with this engine, in this run's namespace (CI on
  // c7aae9a after a killed run: the old guard refused the positive control, the old Postgres volume
  // failed the migration). Removed, with the nft tables they made here, before any test looks.
  const clearLeftovers = async () => {
    const { containers, volumes } = await removeAll(true);
    if (containers === 0 && volumes === 0) return;
    console.log(`# docker: removed ${containers} container(s) and ${volumes} volume(s) an earlier run left in ${dataRoot}`);
    const listed = await execa('ip', ['netns', 'exec', ns, 'nft', 'list', 'tables'], { reject: false });
    for (const line of listed.stdout.split('\n')) {
      const [keyword, family, name] = line.trim().split(' ');
      if (keyword === 'table' && family !== undefined && name?.startsWith('pgw')) await execa('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', family, name]);
    }
  };
  try {
    await startEngine();
    await clearLeftovers();
  } catch (error) {
    await stop();
    throw error;
  }
  return { host, dir, get proc() { return proc; }, docker, run, stopEngine, startEngine, stop };
}
