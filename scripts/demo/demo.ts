/**
 * The demo: a lab (gateway, LAN and WAN namespaces with real dante and tinyproxy), the guard, and
 * all four pgw services with their real privilege split, seeded through the api so the health gate
 * runs. Idempotent: `up` again reuses what is running. `up --ha`: an HA pair instead (scripts/demo/ha.ts):
 * two gateway namespaces on one LAN bridge, each with all services and keepalived; `down` removes either.
 *   node --import tsx scripts/demo/demo.ts up [--ha] | down | status
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sealingPublicKey } from '@pgw/crypto';
import { labRedisUrl } from '../../lab/redis.js';
import { readState } from '../../lab/state.js';
import type { LabDescription } from '../../lab/types.js';
import { WHOAMI_NAME } from '../../lab/dns-server.js';
import { udpEchoClientArgv } from '../../lab/udp-echo-client.js';
import { ApiClient } from './api-client.js';
import { type ClientFacts, clientCarries } from './client-carries.js';
import { loadOrCreateSecrets, type DemoSecrets } from './secrets.js';
import { DEMO_SERVICES, type DemoService, ServiceRegistry } from './services.js';
import { type DemoNode, demoNodes, haNodeNs, nodeEnv, prepareNodeDirs, startKeepalived, stopKeepalived, waitForMaster } from './ha.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DIR = process.env.PGW_DEMO_DIR ?? '/var/lib/pgw-demo';
const LAB_STATE = join(DIR, 'lab.json');
/** Not under DIR: a second demo (the e2e test's) must log in with the same cluster-wide roles. */
const ROLE_PASSWORDS = '/var/lib/pgw-demo-db-roles.env';
// Overridable so the e2e test can run a second demo beside an operator's.
const DATABASE = process.env.PGW_DEMO_DATABASE ?? 'pgw';
const SOCKET = '/var/run/postgresql';
const API_PORT = process.env.PGW_DEMO_API_PORT ?? '8080';
const API_URL = `http://127.0.0.1:${API_PORT}`;
const ADMIN = 'admin';

const say = (line: string) => console.log(`pgw demo: ${line}`);
const dbUrl = (user: string, password?: string) => `postgres://${user}${password ? `:${password}` : ''}@/${DATABASE}?host=${encodeURIComponent(SOCKET)}`;

function run(argv: string[], env: Record<string, string> = {}): string {
  return execFileSync(argv[0]!, argv.slice(1), { cwd: REPO, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

function prepareDatabase(secrets: DemoSecrets): void {
  const exists = run(['psql', '-h', SOCKET, '-d', 'postgres', '-Atc', `SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'`]).trim() === '1';
  if (!exists) {
    say(`creating database ${DATABASE}`);
    run(['createdb', '-h', SOCKET, DATABASE]);
  }
  const cli = ['node', 'packages/cli/dist/main.js'];
  for (const line of run([...cli, 'migrate'], { PGW_DATABASE_URL: dbUrl('root') }).trim().split('\n')) say(`migrate: ${line}`);
  run([...cli, 'db', 'roles'], { PGW_DATABASE_URL: dbUrl('root'), ...secrets });
}

function labIsUp(): boolean {
  if (!existsSync(LAB_STATE)) return false;
  return spawnSync('node', ['--import', 'tsx', 'lab/cli.ts', 'status', '--state', LAB_STATE], { cwd: REPO, stdio: 'ignore' }).status === 0;
}

/** The agent's listener socket: in the lab's directory, which the forwarder's uid can reach (like the lab's Redis socket). */
function listenerSocket(lab: LabDescription): string {
  return join(lab.dir, 'listeners.sock');
}

function serviceEnv(service: DemoService, lab: LabDescription, secrets: DemoSecrets): Record<string, string> {
  const common = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', PGW_LOG_LEVEL: 'info', PGW_REDIS_URL: labRedisUrl(lab.dir, service) };
  switch (service) {
    case 'agent':
      return { ...common, PGW_DATABASE_URL: dbUrl('pgw_agent', secrets.PGW_DB_PASSWORD_AGENT), PGW_STATE_DIR: join(DIR, 'agent-state'), PGW_LISTENER_SOCKET: listenerSocket(lab) };
    case 'forwarder':
      return { ...common, PGW_DATABASE_URL: dbUrl('pgw_forwarder', secrets.PGW_DB_PASSWORD_FORWARDER), PGW_SECRET_KEY: secrets.PGW_SECRET_KEY, PGW_LISTENER_SOCKET: listenerSocket(lab) };
    case 'health':
      return { ...common, PGW_DATABASE_URL: dbUrl('pgw_health', secrets.PGW_DB_PASSWORD_HEALTH), PGW_SECRET_KEY: secrets.PGW_SECRET_KEY };
    case 'api':
      return {
        ...common,
        PGW_DATABASE_URL: dbUrl('pgw_api', secrets.PGW_DB_PASSWORD_API),
        PGW_SECRET_PUBLIC_KEY: sealingPublicKey(Buffer.from(secrets.PGW_SECRET_KEY, 'hex')).toString('base64'),
        PGW_JWT_SECRET: secrets.PGW_JWT_SECRET,
        PGW_CSRF_SECRET: secrets.PGW_CSRF_SECRET,
        PGW_ADMIN_USERNAME: ADMIN,
        PGW_ADMIN_PASSWORD: secrets.PGW_ADMIN_PASSWORD,
        PGW_API_PORT: API_PORT,
      };
  }
}

async function waitHealthy(service: DemoService, gatewayNs: string, logFile: string, apiUrl = API_URL): Promise<void> {
  const { inGateway, metricsPort } = DEMO_SERVICES[service];
  const healthUrl = service === 'api' ? `${apiUrl}/healthz` : `http://127.0.0.1:${metricsPort}/healthz`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const ok = inGateway
      ? spawnSync('ip', ['netns', 'exec', gatewayNs, 'curl', '-sf', '--max-time', '1', healthUrl], { stdio: 'ignore' }).status === 0
      : await fetch(healthUrl).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${service} did not become healthy within 30 s; see ${logFile}`);
}

/**
 * The single gateway runs in TPROXY mode with DNS through the proxy (issue 15): the mode is a
 * gateway setting, and TPROXY carries everything DNAT does (each client's TCP through its proxy)
 * plus its UDP where the proxy carries it, so every client shows what it gets. The HA pair keeps
 * the default (DNAT), as its failover tests run it.
 */
const TPROXY_SETTINGS = { interceptMode: 'tproxy', dnsMode: 'proxy' } as const;

async function seed(api: ApiClient, lab: LabDescription, settings: Record<string, unknown> = {}): Promise<void> {
  if ((await api.get<{ items: unknown[] }>('/api/v1/proxies')).items.length > 0) return;
  say(`seeding ${lab.proxies.length} proxies and ${lab.lan.clients.length} mappings through the api (each mapping is health-gated)`);
  await api.put('/api/v1/settings', { ...(await api.get<Record<string, unknown>>('/api/v1/settings')), checkUrl: lab.internet.echoUrl, ...settings });
  const proxyIds: number[] = [];
  for (const proxy of lab.proxies) {
    const created = await api.post<{ id: number }>('/api/v1/proxies', { name: `lab ${proxy.kind}`, url: proxy.url });
    proxyIds.push(created.id);
  }
  for (const [index, clientIp] of lab.lan.clients.entries()) {
    await api.post('/api/v1/mappings', { clientIp, proxyId: proxyIds[index % proxyIds.length], description: `demo client ${index + 1}` });
  }
}

interface Route {
  readonly clientIp: string;
  /** The exit address the echo server saw; null: no answer. */
  readonly exitIp: string | null;
  /** `<client> -> <exit or why not>` */
  readonly text: string;
}

/** A real request from each LAN client through the gateway: what the client's exit IP is. */
function exitRoutes(lab: LabDescription): Route[] {
  return lab.lan.clients.map((clientIp) => {
    const result = spawnSync('ip', ['netns', 'exec', lab.namespaces.lan, 'curl', '-s', '--max-time', '3', '--interface', clientIp, lab.internet.echoUrl], { encoding: 'utf8' });
    const ip = /"ip"\s*:\s*"([^"]+)"/.exec(result.stdout)?.[1] ?? null;
    return { clientIp, exitIp: ip, text: `${clientIp} -> ${ip ?? `no internet (${result.status === 0 ? 'unexpected answer' : `curl exit ${result.status}`})`}` };
  });
}

function exitIps(lab: LabDescription): string[] {
  return exitRoutes(lab).map((r) => r.text);
}

/**
 * A real DNS query over UDP from the client, as a resolver makes it: `dig TXT whoami.pgw.test` to the
 * lab's DNS server, which answers with the address the query came from. Null: no answer (dropped).
 */
function whoami(lab: LabDescription, clientIp: string): Promise<string | null> {
  const argv = ['netns', 'exec', lab.namespaces.lan, 'dig', '+short', '+tries=1', '+time=2', '-b', clientIp, '-p', String(lab.dns.port), `@${lab.dns.ip}`, 'TXT', WHOAMI_NAME];
  return new Promise((resolve) => execFile('ip', argv, { encoding: 'utf8', timeout: 10_000 }, (_error, stdout) => resolve(/^"([^"]+)"$/m.exec(stdout ?? '')?.[1] ?? null)));
}

interface ApiMapping {
  readonly clientIp: string;
  readonly proxyId: number;
  readonly udpDropped: { reason: string } | null;
}
interface ApiProxy {
  readonly id: number;
  readonly udpSupport: 'supported' | 'unsupported' | null;
}

/** A UDP round trip from the client to the lab's UDP echo service (not DNS): answered or not. */
function udpEcho(lab: LabDescription, clientIp: string): Promise<'reply' | 'none'> {
  const argv = ['netns', 'exec', lab.namespaces.lan, ...udpEchoClientArgv(clientIp, lab.internet.ip, lab.internet.udpEchoPort, 2000)];
  return new Promise((resolve) => execFile('ip', argv, { encoding: 'utf8', timeout: 15_000 }, (_error, stdout) => resolve((stdout ?? '').trim() === 'reply' ? 'reply' : 'none')));
}

/**
 * What each client gets (client-carries.ts), from the api (mode, the proxy's learned UDP support,
 * the mapping's UDP drops) and real exchanges from each client: a UDP echo and a DNS query. The
 * forwarder reports a drop in its status record within 5 s: asked again until every client's UDP
 * and DNS are accounted for, 20 s at most.
 */
async function describeClients(api: ApiClient, lab: LabDescription, routes: readonly Route[]): Promise<string[]> {
  const settings = await api.get<{ interceptMode?: 'dnat' | 'tproxy'; dnsMode: 'drop' | 'proxy' }>('/api/v1/settings');
  const interceptMode = settings.interceptMode ?? 'dnat';
  const seen = new Map<string, { udpEcho: 'reply' | 'none'; whoami: string | null }>();
  const ask = (clients: readonly Route[]) =>
    Promise.all(clients.map(async (r) => seen.set(r.clientIp, { udpEcho: await udpEcho(lab, r.clientIp), whoami: await whoami(lab, r.clientIp) })));
  if (interceptMode === 'tproxy') await ask(routes);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const [mappings, proxies] = await Promise.all([api.get<{ items: ApiMapping[] }>('/api/v1/mappings?limit=1000'), api.get<{ items: ApiProxy[] }>('/api/v1/proxies')]);
    const facts = routes.map((r): ClientFacts => {
      const mapping = mappings.items.find((m) => m.clientIp === r.clientIp);
      return {
        interceptMode,
        dnsMode: settings.dnsMode,
        exitIp: r.exitIp,
        udpSupport: proxies.items.find((p) => p.id === mapping?.proxyId)?.udpSupport ?? null,
        udpDropped: mapping?.udpDropped ?? null,
        udpEcho: seen.get(r.clientIp)?.udpEcho ?? 'none',
        whoami: seen.get(r.clientIp)?.whoami ?? null,
      };
    });
    // Not accounted for yet: UDP neither answered nor reported dropped, or carried but DNS unanswered.
    const open = routes.filter((_, i) => {
      const f = facts[i]!;
      return interceptMode === 'tproxy' && ((f.udpEcho !== 'reply' && f.udpDropped === null) || (f.udpEcho === 'reply' && f.whoami === null));
    });
    if (open.length === 0 || Date.now() > deadline) return routes.map((r, i) => `${r.text} ${clientCarries(facts[i]!)}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await ask(open);
  }
}

async function up(ha: boolean): Promise<void> {
  mkdirSync(DIR, { recursive: true, mode: 0o700 });
  mkdirSync(join(DIR, 'logs'), { recursive: true });
  const secrets = loadOrCreateSecrets(join(DIR, 'secrets.env'), ROLE_PASSWORDS);
  prepareDatabase(secrets);
  if (!labIsUp()) {
    say(`bringing the lab up (namespaces, dante, tinyproxy, echo server, redis${ha ? '; two gateway nodes on one LAN bridge' : ''})`);
    run(['node', '--import', 'tsx', 'lab/cli.ts', 'up', '--clients', '4', '--proxies', 'socks5,socks5-auth,http', ...(ha ? ['--ha'] : []), '--state', LAB_STATE]);
  }
  const lab = readState(LAB_STATE);
  if (ha !== (haNodeNs(lab) !== undefined)) throw new Error(`a ${ha ? 'single-gateway' : 'HA pair'} demo is up: run \`bash scripts/demo.sh down\` first`);
  if (ha) return upPair(lab, secrets);
  run(['ip', 'netns', 'exec', lab.namespaces.gateway, join(REPO, 'guard/load-guard.sh')]);
  say(`guard table inet pgw_guard loaded in ${lab.namespaces.gateway}`);
  const registry = new ServiceRegistry(join(DIR, 'services.json'));
  for (const service of ['agent', 'forwarder', 'health', 'api'] as DemoService[]) {
    if (registry.isRunning(service)) continue;
    await registry.start(service, lab.namespaces.gateway, serviceEnv(service, lab, secrets), REPO, join(DIR, 'logs'));
    await waitHealthy(service, lab.namespaces.gateway, join(DIR, 'logs', `${service}.log`));
    say(`${service} running as ${DEMO_SERVICES[service].uid}${DEMO_SERVICES[service].inGateway ? ` in ${lab.namespaces.gateway}` : ''}`);
  }
  const api = await ApiClient.login(API_URL, ADMIN, secrets.PGW_ADMIN_PASSWORD);
  await seed(api, lab, TPROXY_SETTINGS);
  const deadline = Date.now() + 15_000;
  let routes = exitRoutes(lab);
  while (routes.some((r) => r.exitIp === null) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    routes = exitRoutes(lab);
  }
  const lines = await describeClients(api, lab, routes);
  const status = await api.get<{ proxies: { up: number; total: number }; mappings: { total: number }; clientsBlocked: number | null }>('/api/v1/status');
  for (const line of lines) say(`client ${line}`);
  say(`console ${API_URL}  login: ${ADMIN} / ${secrets.PGW_ADMIN_PASSWORD}  (secrets in ${join(DIR, 'secrets.env')})`);
  say(`status: ${status.proxies.up}/${status.proxies.total} proxies up, ${status.mappings.total} mappings, ${status.clientsBlocked ?? '?'} clients blocked; logs in ${join(DIR, 'logs')}`);
  say(`try: ip netns exec ${lab.namespaces.lan} curl --interface ${lab.lan.clients[0]} ${lab.internet.echoUrl}`);
  say('stop: bash scripts/demo.sh down');
}

async function down(): Promise<void> {
  if (existsSync(LAB_STATE) && haNodeNs(readState(LAB_STATE)) !== undefined) {
    for (const node of demoNodes(readState(LAB_STATE), DIR, Number(API_PORT))) {
      await stopKeepalived(node);
      await new ServiceRegistry(nodeRegistry(node)).stopAll();
    }
    say('keepalived and the services of both nodes stopped');
  } else {
    await new ServiceRegistry(join(DIR, 'services.json')).stopAll();
    say('services stopped');
  }
  if (existsSync(LAB_STATE)) {
    run(['node', '--import', 'tsx', 'lab/cli.ts', 'down', '--state', LAB_STATE]);
    say(`lab removed (the database ${DATABASE} is kept)`);
  }
}

function status(): void {
  const pair = existsSync(LAB_STATE) && haNodeNs(readState(LAB_STATE)) !== undefined ? demoNodes(readState(LAB_STATE), DIR, Number(API_PORT)) : undefined;
  for (const [label, file] of pair ? pair.map((node) => [` (${node.nodeName})`, nodeRegistry(node)] as const) : [['', join(DIR, 'services.json')] as const]) {
    const registry = new ServiceRegistry(file);
    for (const service of Object.keys(DEMO_SERVICES) as DemoService[]) say(`${service.padEnd(9)} ${registry.isRunning(service) ? 'running' : 'stopped'}${label}`);
  }
  say(`lab       ${labIsUp() ? 'up' : 'down'}`);
  if (labIsUp()) for (const route of exitIps(readState(LAB_STATE))) say(`client ${route}`);
}

/** Each node's services are recorded apart; node a's in the single demo's file. */
function nodeRegistry(node: DemoNode): string {
  return join(DIR, node.name === 'a' ? 'services.json' : `services-${node.name}.json`);
}

/** The HA pair: the guard and all four services on each node, seeded once, then keepalived on both. */
async function upPair(lab: LabDescription, secrets: DemoSecrets): Promise<void> {
  const nodes = demoNodes(lab, DIR, Number(API_PORT));
  for (const node of nodes) {
    prepareNodeDirs(node);
    run(['ip', 'netns', 'exec', node.ns, join(REPO, 'guard/load-guard.sh')]);
    const registry = new ServiceRegistry(nodeRegistry(node));
    for (const service of ['agent', 'forwarder', 'health', 'api'] as DemoService[]) {
      if (registry.isRunning(service)) continue;
      const logDir = join(DIR, 'logs', `node-${node.name}`);
      mkdirSync(logDir, { recursive: true });
      await registry.start(service, node.ns, { ...serviceEnv(service, lab, secrets), ...nodeEnv(node, service, lab) }, REPO, logDir);
      await waitHealthy(service, node.ns, join(logDir, `${service}.log`), `http://127.0.0.1:${node.apiPort}`);
      say(`node ${node.nodeName}: ${service} running as ${DEMO_SERVICES[service].uid}${DEMO_SERVICES[service].inGateway ? ` in ${node.ns}` : ` on port ${node.apiPort}`}`);
    }
  }
  const [a, b] = nodes;
  const api = await ApiClient.login(`http://127.0.0.1:${a.apiPort}`, ADMIN, secrets.PGW_ADMIN_PASSWORD);
  await seed(api, lab);
  // Node a first, and master before b starts: started together on a loaded machine, b may win the
  // first election while a's track scripts are still slow, and a takes the address only after its hold-down.
  if (await startKeepalived(a, b, REPO, join(DIR, 'logs'))) {
    say(`node ${a.nodeName}: keepalived started (priority ${a.priority})`);
    await waitForMaster([a]).catch((error: Error) => say(`node ${a.nodeName} is not master yet: ${error.message}`));
  }
  if (await startKeepalived(b, a, REPO, join(DIR, 'logs'))) say(`node ${b.nodeName}: keepalived started (priority ${b.priority})`);
  const master = await waitForMaster(nodes);
  const deadline = Date.now() + 15_000;
  let routes = exitIps(lab);
  while (routes.some((r) => r.includes('no internet')) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    routes = exitIps(lab);
  }
  for (const route of routes) say(`client ${route}   (through the virtual IP 192.168.2.1)`);
  say(`master: ${master.nodeName} (node ${master.name}, ${master.ns}) holds 192.168.2.1; backup: ${nodes.find((n) => n !== master)!.nodeName}`);
  for (const node of nodes) say(`console ${node.nodeName} http://127.0.0.1:${node.apiPort}  login: ${ADMIN} / ${secrets.PGW_ADMIN_PASSWORD}`);
  say(`logs in ${join(DIR, 'logs')}; stop: bash scripts/demo.sh down`);
}

const [command = 'up', ...flags] = process.argv.slice(2);
const ha = flags.includes('--ha');
const unknown = flags.filter((flag) => flag !== '--ha' || command !== 'up');
const commands: Record<string, () => Promise<void> | void> = { up: () => up(ha), down, status };
if (!commands[command] || unknown.length > 0) {
  console.error(`usage: scripts/demo.sh [up [--ha]|down|status] (got "${process.argv.slice(2).join(' ')}")`);
  process.exit(2);
}
Promise.resolve(commands[command]!()).catch((error: Error) => {
  console.error(`pgw demo: ${error.message}`);
  process.exit(1);
});
