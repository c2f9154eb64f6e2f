import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nsArgv } from './netns.js';
import { spawnProcess } from './process.js';
import { renderDanteConfig, renderTinyproxyConfig } from './proxy-config.js';
import { ensurePasswordUser, validateUserName } from './system-users.js';
import type { Credentials, LabProcess, ProxyHandle, ProxyKind } from './types.js';
import { waitProcessPort } from './wait.js';

export interface ProxyStartOptions {
  /** Network namespace to run in (`ip netns exec`); the caller's namespace when omitted. */
  ns?: string;
  ip: string;
  port: number;
  auth?: Credentials;
  /** Directory for config and log; a temp dir (removed by stop()) when omitted. */
  dir?: string;
  /** Let the proxy outlive this Node process (lab CLI). */
  detached?: boolean;
}

interface ProxySpec {
  kind: ProxyKind;
  scheme: 'socks5' | 'http';
  program: string;
  configName: string;
  config: string;
  argv(configFile: string, dir: string): string[];
}

function validateEndpoint(ip: string, port: number): void {
  if (!isIPv4(ip)) throw new Error(`proxy ip ${JSON.stringify(ip)} is not an IPv4 address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`proxy port ${port} is not in 1..65535`);
}

function proxyUrl(scheme: string, ip: string, port: number, auth: Credentials | undefined): string {
  const userinfo = auth ? `${encodeURIComponent(auth.username)}:${encodeURIComponent(auth.password)}@` : '';
  return `${scheme}://${userinfo}${ip}:${port}`;
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Proxies started together: each one that started goes into `into` (the caller's cleanup list)
 * even when another failed, whose error is then thrown; with Promise.all the started ones were
 * lost to the caller and outlived the test.
 */
export async function startProxies(starting: readonly Promise<ProxyHandle>[], into: ProxyHandle[]): Promise<ProxyHandle[]> {
  const outcomes = await Promise.allSettled(starting);
  const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
  into.push(...started);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return started;
}

async function startProxy(spec: ProxySpec, opts: ProxyStartOptions): Promise<ProxyHandle> {
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), `pgw-${spec.program}-`));
  // Named by address and port: two proxies of one kind may share a port on different addresses.
  const instance = `${spec.configName}-${opts.ip}-${opts.port}`;
  const configFile = join(dir, `${instance}.conf`);
  const logFile = join(dir, `${instance}.log`);
  let proc: LabProcess | undefined;

  async function waitReady(timeoutMs = 5000): Promise<void> {
    if (!proc) throw new Error(`${spec.kind} proxy ${opts.ip}:${opts.port} is not running`);
    await waitProcessPort(proc, opts.ns, opts.ip, opts.port, timeoutMs, () => ` (${spec.program}):\n${tail(logFile)}`);
  }

  async function start(): Promise<void> {
    if (proc?.isAlive()) throw new Error(`${spec.kind} proxy ${opts.ip}:${opts.port} is already running (pid ${proc.pid})`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(configFile, spec.config, { mode: 0o600 });
    proc = await spawnProcess(nsArgv(opts.ns, spec.argv(configFile, dir)), {
      logFile,
      name: `${spec.kind}@${opts.ip}:${opts.port}`,
      detached: opts.detached,
    });
    await waitReady();
  }

  const handle: ProxyHandle = {
    kind: spec.kind,
    ns: opts.ns,
    ip: opts.ip,
    port: opts.port,
    username: opts.auth?.username,
    password: opts.auth?.password,
    url: proxyUrl(spec.scheme, opts.ip, opts.port, opts.auth),
    get pid() {
      return proc?.isAlive() ? proc.pid : undefined;
    },
    logFile,
    start,
    waitReady,
    async stop() {
      await proc?.stop();
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await proc?.kill();
    },
  };
  try {
    await start();
  } catch (error) {
    // Not ready (or not started): stopped here, its folder removed, or it outlives the caller, who never got its handle.
    await handle.stop().catch(() => undefined);
    throw error;
  }
  return handle;
}

/**
 * Starts dante (danted 1.4) as a SOCKS5 proxy on ip:port, leaving from ip. With auth, uses
 * dante's `username` method, which checks the system password database: a login-less system
 * user with that name and password is created (idempotently) and danted runs as root to read
 * /etc/shadow. The password is global to the machine: concurrent callers must agree on it.
 */
export async function startDante(opts: ProxyStartOptions): Promise<ProxyHandle> {
  validateEndpoint(opts.ip, opts.port);
  if (opts.auth) {
    validateUserName(opts.auth.username);
    await ensurePasswordUser(opts.auth.username, opts.auth.password);
  }
  return startProxy(
    {
      kind: opts.auth ? 'socks5-auth' : 'socks5',
      scheme: 'socks5',
      program: 'danted',
      configName: 'danted',
      config: renderDanteConfig({ ip: opts.ip, port: opts.port, withAuth: opts.auth !== undefined }),
      // Foreground (no -D); own pid file so several instances do not collide.
      argv: (configFile, dir) => ['/usr/sbin/danted', '-f', configFile, '-p', join(dir, `danted-${opts.ip}-${opts.port}.pid`)],
    },
    opts,
  );
}

/** Starts tinyproxy (1.11) as an HTTP CONNECT proxy on ip:port, leaving from ip, optional Basic auth. */
export async function startTinyproxy(opts: ProxyStartOptions): Promise<ProxyHandle> {
  validateEndpoint(opts.ip, opts.port);
  return startProxy(
    {
      kind: opts.auth ? 'http-auth' : 'http',
      scheme: 'http',
      program: 'tinyproxy',
      configName: 'tinyproxy',
      config: renderTinyproxyConfig({ ip: opts.ip, port: opts.port, auth: opts.auth }),
      argv: (configFile) => ['/usr/bin/tinyproxy', '-d', '-c', configFile],
    },
    opts,
  );
}
