/**
 * Runs the real pgw services against a lab: agent, forwarder and health inside the gateway
 * namespace (as root with CAP_NET_ADMIN only, uid pgw, uid pgw-health), the api in the machine's
 * namespace on a free loopback port (it needs no gateway network) as uid pgw-api. Each service
 * gets its own Postgres role from a fresh test database and the lab's Redis socket.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PasswordSealer, sealingPublicKey } from '@pgw/crypto';
import type { ProxyHandshake } from '@pgw/domain';
import { EventBus, type PgwEvent } from '@pgw/events';
import { createLogger } from '@pgw/log';
import type { Lab, LabProcess, ProxyHandle } from '../../lab/index.js';
import type { ServiceRole, TestDatabase } from './database.js';
import { insertQuietProxy } from './quiet-proxy.js';
import { waitFor } from '../../lab/wait.js';

export { AGENT_SUPERVISOR, niceArgv, REPO_ROOT, SERVICE_SPECS, SERVICES, serviceEntry, serviceMainArgv, type ServiceName, type ServiceSpec } from '../../lab/services.js';
import { AGENT_SUPERVISOR, niceArgv, REPO_ROOT, SERVICE_SPECS as SPECS, serviceMainArgv, type ServiceName } from '../../lab/services.js';

export const ADMIN_CREDENTIALS = { username: 'admin', password: 'admin-password-for-tests' } as const;

/** Wall-clock times (Date.now()) of a service's last start. */
export interface StartTiming {
  spawnedAt: number;
  /** When its health endpoint first answered (polled every 100 ms). */
  readyAt: number;
}

export interface GatewayOptions {
  /** Extra or overriding environment per service. */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** The namespace the gateway services run in (default: the lab's gateway), e.g. the second node of an HA pair (lab/ha-topology.ts). */
  ns?: string;
  /** Where this gateway keeps its state, sockets and logs (default: the lab's directory). */
  dir?: string;
  /** The key sealing proxy passwords (default: a fresh one): the nodes of an HA pair share one, as they share the database. */
  secretKey?: Buffer;
}

/** The process a supervisor runs (the agent under run-agent.sh), or undefined once it has exited. */
function supervisedPid(supervisor: number): number | undefined {
  try {
    const children = readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length > 0 ? Number(children[0]) : undefined;
  } catch {
    return undefined;
  }
}

export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export class Gateway {
  readonly secretKey: Buffer;
  readonly jwtSecret = randomBytes(32).toString('hex');
  readonly csrfSecret = randomBytes(32).toString('hex');
  readonly bus: EventBus;
  readonly stateDir: string;
  /** The forwarder's cache of the desired state (its own directory, uid pgw, 0700). */
  readonly forwarderStateDir: string;
  /** The agent's listener socket, through which the forwarder gets its listening sockets. */
  readonly listenerSocket: string;
  /** The namespace of agent, forwarder and health; the directory of this gateway's files. */
  readonly ns: string;
  readonly dir: string;
  /** Where the api listens, once started. */
  apiUrl = '';
  private readonly running = new Map<ServiceName, LabProcess>();
  private readonly startTimings = new Map<ServiceName, StartTiming>();
  private apiPort = 0;
  /** The api's metrics listener, beside its API port in the machine's namespace (free, so parallel runs do not collide). */
  private apiMetricsPort = 0;

  constructor(
    readonly lab: Lab,
    readonly database: TestDatabase,
    private readonly options: GatewayOptions = {},
  ) {
    this.secretKey = options.secretKey ?? randomBytes(32);
    this.ns = options.ns ?? lab.ns.gateway;
    this.dir = options.dir ?? lab.dir;
    mkdirSync(this.dir, { recursive: true });
    // Stands in for any publisher: the lab's admin user (the services use their own).
    this.bus = new EventBus({ redisUrl: lab.redis.adminUrl, logger: createLogger('gateway-test', 'error') });
    this.stateDir = join(this.dir, 'agent-state');
    this.listenerSocket = join(this.dir, 'listeners.sock');
    mkdirSync(this.stateDir, { recursive: true });
    this.forwarderStateDir = join(this.dir, 'forwarder-state');
    mkdirSync(this.forwarderStateDir, { recursive: true, mode: 0o700 });
    const uid = (flag: string) => Number(execFileSync('id', [flag, SPECS.forwarder.uid]).toString().trim());
    chownSync(this.forwarderStateDir, uid('-u'), uid('-g'));
  }

  envFor(service: ServiceName): Record<string, string> {
    const spec = SPECS[service];
    const common: Record<string, string> = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      PGW_LOG_LEVEL: 'info',
      PGW_DATABASE_URL: this.database.urlFor(spec.role),
      PGW_REDIS_URL: this.lab.redis.url(service),
    };
    if (spec.metricsPort) common.PGW_METRICS_PORT = String(spec.metricsPort);
    const perService: Record<ServiceName, Record<string, string>> = {
      agent: {
        PGW_STATE_DIR: this.stateDir,
        PGW_RESYNC_INTERVAL_MS: '1000',
        // The ports the agent never DNATs to: the other services' metrics listeners beside it.
        PGW_FORWARDER_METRICS_PORT: String(SPECS.forwarder.metricsPort),
        PGW_HEALTH_METRICS_PORT: String(SPECS.health.metricsPort),
        PGW_LISTENER_SOCKET: this.listenerSocket,
      },
      forwarder: { PGW_SECRET_KEY: this.secretKey.toString('hex'), PGW_LISTENER_SOCKET: this.listenerSocket, PGW_FORWARDER_STATE_DIR: this.forwarderStateDir },
      health: { PGW_SECRET_KEY: this.secretKey.toString('hex') },
      api: {
        PGW_SECRET_PUBLIC_KEY: sealingPublicKey(this.secretKey).toString('base64'),
        PGW_JWT_SECRET: this.jwtSecret,
        PGW_CSRF_SECRET: this.csrfSecret,
        PGW_API_HOST: '127.0.0.1',
        PGW_API_PORT: String(this.apiPort),
        ...(this.apiMetricsPort ? { PGW_API_METRICS_PORT: String(this.apiMetricsPort) } : {}),
        PGW_ADMIN_USERNAME: ADMIN_CREDENTIALS.username,
        PGW_ADMIN_PASSWORD: ADMIN_CREDENTIALS.password,
      },
    };
    return { ...common, ...perService[service], ...this.options.env?.[service] };
  }

  /**
   * Starts the built service (its bundle, services/<name>/bundle/main.js) and resolves once it
   * answers its health endpoint. extraNodeFlags go after the spec's own: V8 flags for A/B runs
   * (NODE_OPTIONS refuses most of them).
   */
  async start(service: ServiceName, extraEnv: Record<string, string> = {}, extraNodeFlags: readonly string[] = []): Promise<LabProcess> {
    if (this.running.get(service)?.isAlive()) throw new Error(`${service} is already running`);
    const spec = SPECS[service];
    if (service === 'api' && this.apiPort === 0) {
      this.apiPort = await freeLoopbackPort();
      this.apiMetricsPort = await freeLoopbackPort();
      this.apiUrl = `http://127.0.0.1:${this.apiPort}`;
    }
    const argv = [...niceArgv(spec), ...serviceMainArgv(service, extraNodeFlags)];
    const options = { env: { ...this.envFor(service), ...extraEnv }, uid: spec.uid, caps: spec.caps, groups: spec.groups, cwd: REPO_ROOT, name: `pgw-${service}`, logFile: join(this.dir, `pgw-${service}.log`) };
    const spawnedAt = Date.now();
    // The api lives in the machine's namespace: an empty ns name runs it there through the lab's spawner.
    const proc = await this.lab.spawn(spec.inGateway ? this.ns : '', argv, options);
    this.running.set(service, proc);
    await this.waitReady(service, proc);
    this.startTimings.set(service, { spawnedAt, readyAt: Date.now() });
    return proc;
  }

  /** Timing of the service's last successful start(), for start-up breakdowns. */
  lastStart(service: ServiceName): StartTiming | undefined {
    return this.startTimings.get(service);
  }

  private async waitReady(service: ServiceName, proc: LabProcess, timeoutMs = 20_000): Promise<void> {
    const spec = SPECS[service];
    const url = service === 'api' ? `${this.apiUrl}/healthz` : `http://127.0.0.1:${spec.metricsPort}/healthz`;
    await waitFor(`${service} to answer ${url}; see ${proc.logFile}`, timeoutMs, async () => {
      if (!proc.isAlive()) throw new Error(`${service} exited during start; see ${proc.logFile}`);
      return spec.inGateway
        ? (await this.lab.exec(this.ns, ['curl', '-sf', '--max-time', '1', url], { reject: false })).exitCode === 0
        : await fetch(url).then((r) => r.ok, () => false);
    }, { intervalMs: 100 });
  }

  process(service: ServiceName): LabProcess | undefined {
    return this.running.get(service);
  }

  /**
   * SIGKILL: a crash, nothing graceful. For the agent that is its own process: its supervisor
   * outlives it and runs the post-stop reset, as systemd runs ExecStopPost= after a SIGKILL.
   */
  async kill(service: ServiceName): Promise<void> {
    const proc = this.running.get(service);
    if (!proc) return;
    const agentPid = service === 'agent' ? supervisedPid(proc.pid) : undefined;
    if (agentPid !== undefined) process.kill(agentPid, 'SIGKILL');
    else await proc.kill();
    await proc.exited;
    this.running.delete(service);
  }

  /** Sends a signal to the service's own process (the agent's, not its supervisor): SIGSTOP/SIGCONT freeze and thaw it. */
  signal(service: ServiceName, signal: NodeJS.Signals): void {
    const proc = this.running.get(service);
    if (!proc) throw new Error(`${service} is not running`);
    const pid = service === 'agent' ? supervisedPid(proc.pid) : proc.pid;
    if (pid === undefined) throw new Error(`${service}: its supervisor has no child`);
    process.kill(pid, signal);
  }

  /** SIGTERM and wait: what `systemctl stop` does. */
  async stop(service: ServiceName): Promise<void> {
    const proc = this.running.get(service);
    if (!proc) return;
    await proc.stop(10_000);
    this.running.delete(service);
  }

  async restart(service: ServiceName): Promise<LabProcess> {
    await this.stop(service);
    return this.start(service);
  }

  /** Runs `work` with `service` restarted under `extraEnv`, then restarts it as configured, whatever `work` did. */
  async withRestarted<T>(service: ServiceName, extraEnv: Record<string, string>, work: () => Promise<T>): Promise<T> {
    await this.stop(service);
    await this.start(service, extraEnv);
    try {
      return await work();
    } finally {
      await this.restart(service);
    }
  }

  /** Inserts a proxy row for a lab proxy, its password sealed as the api would. */
  /** handshakeLearned: as if the health probe had learned it (benches run without the health service). */
  async seedProxy(
    proxy: ProxyHandle,
    options: { name?: string; status?: 'up' | 'down' | 'unknown'; handshakeLearned?: ProxyHandshake; quiet?: { readonly intervalS: number; readonly quietMs: number } } = {},
  ): Promise<number> {
    const values = {
      name: options.name ?? `${proxy.kind}-${proxy.ip}-${proxy.port}`,
      protocol: proxy.kind.startsWith('socks5') ? ('socks5' as const) : ('http' as const),
      host: proxy.ip,
      port: proxy.port,
      username: proxy.username ?? null,
      passwordEnc: proxy.password ? new PasswordSealer(sealingPublicKey(this.secretKey)).seal(proxy.password) : null, // as the api seals (v2)
      status: options.status ?? ('unknown' as const),
      handshakeLearned: options.handshakeLearned ?? null,
    };
    // With `quiet`, its periodic probe stays out of the test (quiet-proxy.ts).
    if (options.quiet !== undefined) return insertQuietProxy(this.database.db, values, options.quiet);
    return (await this.database.db.insertInto('proxies').values(values).returning('id').executeTakeFirstOrThrow()).id;
  }

  async seedMapping(clientIp: string, proxyId: number, listenPort: number, enabled = true): Promise<number> {
    const row = await this.database.db.insertInto('mappings').values({ clientIp, proxyId, listenPort, enabled }).returning('id').executeTakeFirstOrThrow();
    return row.id;
  }

  /**
   * Seeds every lab proxy (status up) and one mapping per lab client, spread round robin over the
   * proxies, on ports from firstPort. Returns each client with the exit address it must show.
   */
  async seedAllClients(firstPort = 20000): Promise<{ ip: string; expectedExitIp: string }[]> {
    const proxyIds: number[] = [];
    for (const proxy of this.lab.proxies) proxyIds.push(await this.seedProxy(proxy, { status: 'up' }));
    const plan: { ip: string; expectedExitIp: string }[] = [];
    for (const [i, ip] of this.lab.clients.entries()) {
      await this.seedMapping(ip, proxyIds[i % proxyIds.length]!, firstPort + i);
      plan.push({ ip, expectedExitIp: this.lab.proxies[i % this.lab.proxies.length]!.ip });
    }
    return plan;
  }

  /** Writes a proxy status as the health service does and, unless told not to, publishes its transition notice. */
  async setProxyStatus(proxyId: number, status: 'up' | 'down', publish = true): Promise<void> {
    const before = await this.database.db.selectFrom('proxies').select('status').where('id', '=', proxyId).executeTakeFirstOrThrow();
    await this.database.db.updateTable('proxies').set({ status, statusChangedAt: new Date() }).where('id', '=', proxyId).execute();
    if (publish) await this.publish({ type: 'proxy.status', proxyId, status, previous: before.status, latencyMs: null, exitIp: null, error: null });
  }

  publish(event: PgwEvent): Promise<string> {
    return this.bus.publish(event);
  }

  /** Stops every service (SIGKILL: teardown need not be graceful) and the bus; the lab and database are the caller's. */
  async destroy(): Promise<void> {
    for (const service of [...this.running.keys()]) await this.kill(service).catch(() => undefined);
    await this.bus.close();
  }
}
