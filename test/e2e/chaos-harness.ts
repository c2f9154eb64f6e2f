/**
 * The chaos matrix's lab (issue 11 points 5-6), shared by chaos-matrix.test.ts and
 * `npm run bench:chaos`: every pgw service running for real in a lab (test/support/gateway.ts),
 * LAN clients loading it all along (chaos-load.ts), tcpdump on the gateway's eth0 for the whole run
 * and a crafted-SYN prober (lab/syn-prober.ts) aiming at every listening port of the gateway,
 * at 127.0.0.1 and at the gateway's own addresses, all along. runFault() injects one fault
 * (chaos-faults.ts) and reports what crossed eth0, which gateway sockets answered a LAN SYN, what
 * the clients saw, and when they were effective again.
 *
 * Postgres and the agent's state directory are this lab's own, so their faults touch nothing else
 * on the machine: the services reach their test database through a relay (support/pg-relay.ts) the
 * test can stop, and the agent's state directory is a 64 KiB tmpfs in the lab's directory.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PgwEvent } from '@pgw/events';
import { cleanupStaleLabs, createLab, execIn, type Capture, type Lab, type ProxyHandle } from '../../lab/index.js';
import { onProcessExit } from '../../lab/exit-hooks.js';
import { isSameProcessAlive } from '../../lab/proc.js';
import { LAB_ROOT, readState, stateFile } from '../../lab/state.js';
import { type SynAnswer, SynProber, type SynTarget } from '../../lab/syn-prober.js';
import { createTestDatabase, SERVICE_ROLES, type TestDatabase } from '../support/database.js';
import { Gateway, SERVICES, type ServiceName } from '../support/gateway.js';
import { NftWatch } from '../support/nft-watch.js';
import { PgRelay } from '../support/pg-relay.js';
import { waitFor } from '../../lab/wait.js';
import { ChaosLoad, type LoadRequest } from './chaos-load.js';
import { GUARD_LOADER } from './dataplane-harness.js';
import { TransactionWatch } from './selfheal-harness.js';
import type { WatchedTable } from '../../services/agent/src/self-heal/nft-monitor-events.js';

export const FIRST_PORT = 20000;
/** Everything on eth0 to or from a LAN address (v4 and v6) or a loopback address is a leak. */
const LEAK_FILTER = 'net 192.168.2.0/24 or net 127.0.0.0/8 or ip6 net fd00:2::/64';
/** Ports probed besides those found listening: the api's defaults, should one ever run here. */
const EXTRA_PORTS = [8080, 9104];
const RECOVERY_TIMEOUT_MS = 30_000;
const STATE_FS_SIZE = '64k';

export interface ChaosClients {
  /** Under load all along, two on proxy A (dante), one on proxy B (tinyproxy). */
  readonly load: readonly string[];
  /** Mapped to proxy C (another dante) and sending nothing: the proxy-death row's client. */
  readonly idle: string;
  /** Mapping disabled. */
  readonly blocked: string;
  readonly unmapped: string;
  /** Unmapped until the disk-full row maps it. */
  readonly spare: string;
}

export interface ChaosLab {
  readonly lab: Lab;
  readonly gw: string;
  readonly database: TestDatabase;
  readonly gateway: Gateway;
  readonly relay: PgRelay;
  /** The agent's PGW_STATE_DIR: a tmpfs of STATE_FS_SIZE. */
  readonly stateDir: string;
  readonly clients: ChaosClients;
  readonly proxies: { readonly a: ProxyHandle; readonly c: ProxyHandle; readonly aId: number };
  readonly load: ChaosLoad;
  readonly prober: SynProber;
  readonly watch: TransactionWatch;
  readonly nftWatch: NftWatch;
  readonly capture: Capture;
  /** The gateway ports the prober aims at. */
  readonly ports: readonly number[];
  /** The prober's targets: every port at 127.0.0.1 and at the gateway's addresses... */
  readonly targets: readonly SynTarget[];
  /** ...and only at 127.0.0.1, aimed at faster during the nft faults (a hole may last milliseconds). */
  readonly loopbackTargets: readonly SynTarget[];
  /** Positive controls, before any enforcement: what the capture and the prober saw then. */
  readonly controls: { readonly wanPackets: number; readonly synAcks: number };
  nft(...args: string[]): Promise<{ exitCode: number | undefined; stdout: string; stderr: string }>;
  /** Elements of a set of inet pgw, or null when the table is absent. */
  setElements(name: string): Promise<string[] | null>;
  publish(event: PgwEvent): Promise<string>;
  destroy(): Promise<void>;
}

/** What a fault reports about itself (Date.now() values). */
export interface FaultOutcome {
  /** When the fault was injected. */
  readonly faultAt: number;
  /** When the fault ended (the test restarted what it stopped); faultAt for instant faults. */
  readonly endAt: number;
  /** Figures of this fault only (e.g. blockedMs), shown in its row. */
  readonly extra?: Readonly<Record<string, number | string | null>>;
}

export interface ChaosFault {
  /** Short key for JSON and the table. */
  readonly key: string;
  readonly name: string;
  /** Tables the fault removes; the row reports when both are back. */
  readonly damages?: readonly WatchedTable[];
  /** The agent runs through the fault: the tables must be back within the self-heal bound. */
  readonly selfHeal?: boolean;
  run(c: ChaosLab): Promise<FaultOutcome>;
  /** Undoes what the fault left that is not the product's to undo (e.g. an operator's table). */
  cleanup?(c: ChaosLab): Promise<void>;
}

export interface FaultRow {
  readonly key: string;
  readonly fault: string;
  readonly heldMs: number;
  /** From the fault to every load client effective again; 0 when no client request failed; null: not within RECOVERY_TIMEOUT_MS. */
  readonly recoveryMs: number | null;
  readonly requests: number;
  readonly failed: number;
  readonly refused: number;
  readonly reset: number;
  /** Failures by error. */
  readonly errors: Readonly<Record<string, number>>;
  /** The slowest request that ended in the window. */
  readonly slowestMs: number;
  /** eth0 packets with a LAN or loopback address in the window (tcpdump lines). */
  readonly leaked: readonly string[];
  /** SYN-ACKs the gateway sent to the prober in the window. */
  readonly reaches: readonly SynAnswer[];
  readonly synsSent: number;
  /** From the first damaging transaction to the last table back (null: not back, undefined: no table damaged). */
  readonly tablesBackMs?: number | null;
  /** Each damaged table on its own (the loopback hole is shut again as soon as either is back). */
  readonly tableBackMs?: Readonly<Partial<Record<WatchedTable, number | null>>>;
  readonly extra: Readonly<Record<string, number | string | null>>;
  /** What is not as it must be once recovered (tables, sysctls, services). */
  readonly postcondition: readonly string[];
}

/** Unmounts state tmpfs left in labs whose owner died (a SIGKILLed run); cleanupStaleLabs can then remove them. */
function unmountStale(): void {
  const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m.startsWith(`${LAB_ROOT}/`));
  for (const mount of mounts) {
    const dir = join(LAB_ROOT, mount.slice(LAB_ROOT.length + 1).split('/')[0]!);
    let live = false;
    try {
      const state = readState(stateFile(dir));
      live = isSameProcessAlive(state.ownerPid, state.ownerStartTime);
    } catch {
      live = false;
    }
    if (!live) execFileSync('umount', ['-l', mount], { stdio: 'ignore' });
  }
}

async function sysctl(lab: Lab, key: string): Promise<string> {
  return (await lab.exec(lab.ns.gateway, ['sysctl', '-n', key])).stdout.trim();
}

/** Every TCP port listening in the gateway namespace (any address). */
async function listeningPorts(lab: Lab): Promise<number[]> {
  const out = (await lab.exec(lab.ns.gateway, ['ss', '-Hltn'])).stdout;
  const ports = out.split('\n').map((l) => /:(\d+)\s/.exec(l.split(/\s+/).slice(3).join(' ') + ' ')?.[1]).filter((p): p is string => p !== undefined).map(Number);
  return [...new Set([...ports, ...EXTRA_PORTS])].sort((a, b) => a - b);
}

/** eth0's capture so far, each line with its time (Date.now() scale). */
async function wanLines(capture: Capture): Promise<{ at: number; line: string }[]> {
  // tcpdump writes each packet at once (-U); the last one may be half written, hence reject: false.
  const decoded = await execIn(undefined, ['tcpdump', '-tt', '-n', '-r', capture.file], { reject: false });
  return decoded.stdout.split('\n').filter(Boolean).map((line) => ({ at: Number(line.split(' ')[0]) * 1000, line }));
}

const LISTENER = `require('node:net').createServer((s) => s.end()).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'));`;

export async function createChaosLab(log: (line: string) => void = () => undefined): Promise<ChaosLab> {
  unmountStale();
  await cleanupStaleLabs();
  const lab = await createLab({ clients: 7, proxies: ['socks5', 'http', 'socks5'] });
  const cleanups: (() => Promise<void> | void)[] = [() => lab.destroy()];
  const destroy = async () => {
    // PGW_CHAOS_LOGS=<dir>: keep the services' logs (the lab's directory goes with the lab).
    if (process.env.PGW_CHAOS_LOGS) {
      mkdirSync(process.env.PGW_CHAOS_LOGS, { recursive: true });
      for (const f of readdirSync(lab.dir).filter((n) => n.endsWith('.log'))) copyFileSync(join(lab.dir, f), join(process.env.PGW_CHAOS_LOGS, f));
    }
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch((error: unknown) => log(`cleanup: ${String(error)}`));
    cleanups.length = 0;
  };
  try {
    const gw = lab.ns.gateway;
    const [a1, a2, b, idle, blocked, unmapped, spare] = lab.clients as [string, string, string, string, string, string, string];
    const clients: ChaosClients = { load: [a1, a2, b], idle, blocked, unmapped, spare };
    const [proxyA, proxyB, proxyC] = lab.proxies as [ProxyHandle, ProxyHandle, ProxyHandle];
    const echoUrl = lab.description.internet.echoUrl;

    const database = await createTestDatabase({ prefix: 'pgw_chaos' });
    cleanups.push(() => database.drop());
    // A dead proxy is found by the liveness connection; one probe brings it back.
    await database.db.updateTable('settings').set({ checkUrl: echoUrl, failThreshold: 1, recoverThreshold: 1, probeTimeoutMs: 2000 }).where('id', '=', 1).execute();

    const relay = new PgRelay(lab, PgRelay.socketDirOf(database.urlFor('pgw_agent')));
    await relay.start();
    cleanups.push(() => relay.stop());

    const stateDir = join(lab.dir, 'agent-statefs');
    mkdirSync(stateDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${STATE_FS_SIZE},mode=0700`, 'pgw-chaos-state', stateDir]);
    const unmount = () => {
      if (readFileSync('/proc/mounts', 'utf8').includes(` ${stateDir} `)) execFileSync('umount', ['-l', stateDir], { stdio: 'ignore' });
    };
    cleanups.push(unmount);
    cleanups.push(onProcessExit(unmount) as () => void);

    const dbEnv = (role: (typeof SERVICE_ROLES)[number]) => ({ PGW_DATABASE_URL: relay.url(database.urlFor(role)) });
    const gateway = new Gateway(lab, database, {
      env: {
        agent: { ...dbEnv('pgw_agent'), PGW_STATE_DIR: stateDir },
        forwarder: dbEnv('pgw_forwarder'),
        health: dbEnv('pgw_health'),
        api: dbEnv('pgw_api'),
      },
    });
    cleanups.push(() => gateway.destroy());
    const aId = await gateway.seedProxy(proxyA, { status: 'up' });
    const bId = await gateway.seedProxy(proxyB, { status: 'up' });
    const cId = await gateway.seedProxy(proxyC, { status: 'up' });
    await gateway.seedMapping(a1, aId, FIRST_PORT);
    await gateway.seedMapping(a2, aId, FIRST_PORT + 1);
    await gateway.seedMapping(b, bId, FIRST_PORT + 2);
    await gateway.seedMapping(idle, cId, FIRST_PORT + 3);
    await gateway.seedMapping(blocked, aId, FIRST_PORT + 4, false);

    const capture = await lab.capture({ ns: gw, iface: 'eth0', filter: LEAK_FILTER });
    cleanups.push(() => capture.stop().then(() => undefined));
    const prober = await SynProber.start({ lanNs: lab.ns.lan, lanIface: 'gw0', gatewayNs: gw, gatewayIface: 'ens19', intervalMs: 2, maxSeconds: 1800 });
    cleanups.push(() => prober.stop());

    // Positive controls, before any enforcement (the lab's gateway forwards, like a plain router):
    // the capture sees a client's packets on eth0, and the prober sees a loopback socket's SYN-ACK.
    const direct = await lab.httpGet({ ns: lab.ns.lan, url: echoUrl, sourceIp: unmapped, timeoutMs: 3000 });
    if (!direct.ok) throw new Error(`positive control: the unmapped client could not reach the echo host directly: ${direct.error}`);
    const wanPackets = (await waitFor('the capture to show the client on eth0', 5000, async () => {
      const seen = (await wanLines(capture)).filter((l) => l.line.includes(` ${unmapped}.`));
      return seen.length > 0 && seen;
    })).length;
    await lab.exec(gw, ['sysctl', '-q', '-w', 'net.ipv4.conf.ens19.route_localnet=1']);
    const standIn = await lab.spawn(gw, ['node', '-e', LISTENER, '9199'], { name: 'control-listener' });
    await waitFor('the control listener', 5000, async () => (await lab.exec(gw, ['ss', '-Hltn', 'sport = :9199'])).stdout.includes('127.0.0.1:9199'));
    await prober.setTargets([{ src: unmapped, dst: '127.0.0.1', port: 9199 }]);
    const synAcks = (await waitFor('the prober to see the control listener’s SYN-ACK', 5000, () => prober.answers.length > 0 && prober.answers.length)) as number;
    await prober.setTargets([]);
    await standIn.stop();
    await lab.exec(gw, ['sysctl', '-q', '-w', 'net.ipv4.conf.ens19.route_localnet=0']);
    log(`positive controls: ${wanPackets} client packets on eth0, ${synAcks} SYN-ACKs from a loopback listener, with nothing enforcing`);

    await lab.exec(gw, [GUARD_LOADER]);
    for (const service of SERVICES) await gateway.start(service);
    for (const [ip, proxy] of [[a1, proxyA], [a2, proxyA], [b, proxyB], [idle, proxyC]] as const) {
      await waitFor(`${ip} to exit through ${proxy.ip}`, 30_000, async () => {
        const res = await lab.httpGet({ ns: lab.ns.lan, url: echoUrl, sourceIp: ip, timeoutMs: 2000 });
        return res.ok && res.status === 200 && (JSON.parse(res.body) as { ip: string }).ip === proxy.ip;
      }, { intervalMs: 200 });
    }

    const ports = await listeningPorts(lab);
    const { lanIp, wanIp } = lab.description.gateway;
    const targets: SynTarget[] = [];
    const loopbackTargets: SynTarget[] = [];
    for (const port of ports) {
      for (const src of [a1, unmapped]) loopbackTargets.push({ src, dst: '127.0.0.1', port });
      // Every client's SYN to 127.0.0.1 must die before any socket. An effective client's TCP to
      // the gateway's own addresses is DNAT-ed to its forwarder port by design (docs/SECURITY.md
      // flow 9), so those probes come from the clients nothing may answer at all.
      for (const src of [a1, idle, blocked, unmapped]) targets.push({ src, dst: '127.0.0.1', port });
      for (const src of [blocked, unmapped]) for (const dst of [lanIp, wanIp]) targets.push({ src, dst, port });
    }
    await prober.setTargets(targets);
    log(`prober: ${targets.length} targets (ports ${ports.join(', ')}), one SYN every 2 ms`);

    const watch = await TransactionWatch.start({ gw, lab });
    cleanups.push(() => watch.stop());
    const nftWatch = new NftWatch(gw);
    cleanups.push(() => nftWatch.stop());
    const load = await ChaosLoad.start({
      ns: lab.ns.lan,
      clients: [{ ip: a1, expectedExitIp: proxyA.ip }, { ip: a2, expectedExitIp: proxyA.ip }, { ip: b, expectedExitIp: proxyB.ip }],
      url: echoUrl, pauseMs: 100, connectTimeoutMs: 3000, responseTimeoutMs: 5000, maxRunMs: 30 * 60_000,
    });
    cleanups.push(() => load.stop());
    const now = Date.now();
    if ((await load.recovered(now, now, 20_000)) === null) throw new Error('the load clients are not effective before the faults');

    const nft = (...args: string[]) => lab.exec(gw, ['nft', ...args], { reject: false });
    return {
      lab, gw, database, gateway, relay, stateDir, clients, proxies: { a: proxyA, c: proxyC, aId }, load, prober, watch, nftWatch, capture, ports, targets, loopbackTargets,
      controls: { wanPackets, synAcks },
      nft,
      async setElements(name) {
        const r = await nft('-j', 'list', 'set', 'inet', 'pgw', name);
        if (r.exitCode !== 0) return null;
        const set = (JSON.parse(r.stdout).nftables as { set?: { elem?: unknown[] } }[]).find((i) => i.set)?.set;
        return (set?.elem ?? []).map(String).sort();
      },
      publish: (event) => gateway.publish(event),
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** What must hold once the gateway has recovered, whatever the fault was. */
async function postconditions(c: ChaosLab): Promise<string[]> {
  const wrong: string[] = [];
  for (const table of ['pgw', 'pgw_guard']) if ((await c.nft('list', 'table', 'inet', table)).exitCode !== 0) wrong.push(`table inet ${table} absent`);
  if ((await sysctl(c.lab, 'net.ipv4.conf.ens19.forwarding')) !== '0') wrong.push('LAN forwarding on');
  if ((await sysctl(c.lab, 'net.ipv4.conf.ens19.route_localnet')) !== '1') wrong.push('route_localnet off while the agent runs');
  for (const service of SERVICES) if (!c.gateway.process(service as ServiceName)?.isAlive()) wrong.push(`${service} not running`);
  return wrong;
}

/**
 * Damage-to-restore times of the tables from the test's own nft monitor, from index `mark` on:
 * each table's, and from the first damage to the last restore.
 */
async function tablesBack(c: ChaosLab, mark: number, tables: readonly WatchedTable[]): Promise<{ all: number | null; each: Partial<Record<WatchedTable, number | null>> }> {
  const round = (ms: number) => Math.round(ms * 10) / 10;
  const each: Partial<Record<WatchedTable, number | null>> = {};
  let firstDamage = Number.POSITIVE_INFINITY;
  let lastRestore: number | null = 0;
  for (const table of tables) {
    const damage = await c.watch.until((t) => t.changes.get(table) === 'removed', mark, 3000);
    const restore = damage && (await c.watch.until((t) => t.changes.get(table) === 'replaced', c.watch.seen.indexOf(damage) + 1, 5000));
    each[table] = damage && restore ? round(restore.at - damage.at) : null;
    if (!damage || !restore) {
      lastRestore = null;
      continue;
    }
    firstDamage = Math.min(firstDamage, damage.at);
    if (lastRestore !== null) lastRestore = Math.max(lastRestore, restore.at);
  }
  return { all: lastRestore === null ? null : round(lastRestore - firstDamage), each };
}

/** Runs one fault with everything watching, and waits for the load clients to be effective again. */
export async function runFault(c: ChaosLab, fault: ChaosFault): Promise<FaultRow> {
  // A table fault may open a hole for milliseconds only: the prober then aims at 127.0.0.1 alone,
  // four times as often, until the row ends.
  if (fault.damages) await c.prober.setTargets(c.loopbackTargets, 0.5);
  const startedAt = Date.now();
  const mark = c.watch.seen.length;
  const outcome = await fault.run(c);
  const back = await c.load.recovered(outcome.faultAt, outcome.endAt, RECOVERY_TIMEOUT_MS);
  const tables = fault.damages ? await tablesBack(c, mark, fault.damages) : undefined;
  const postcondition = await postconditions(c);
  // A service that died is started again, as systemd's Restart= would, so the next row starts whole.
  const restarted: string[] = [];
  for (const service of SERVICES) {
    if (c.gateway.process(service)?.isAlive()) continue;
    restarted.push(service);
    await c.gateway.start(service);
  }
  await fault.cleanup?.(c);
  await sleep(300); // late packets and SYN-ACKs
  const endedAt = Date.now();
  if (fault.damages) await c.prober.setTargets(c.targets);
  const requests: LoadRequest[] = c.load.between(outcome.faultAt, endedAt);
  const failures = requests.filter((r) => !r.ok);
  const errors: Record<string, number> = {};
  for (const r of failures) errors[r.error ?? 'unknown'] = (errors[r.error ?? 'unknown'] ?? 0) + 1;
  const leaked = (await wanLines(c.capture)).filter((l) => l.at >= startedAt && l.at <= endedAt).map((l) => l.line);
  return {
    key: fault.key,
    fault: fault.name,
    heldMs: outcome.endAt - outcome.faultAt,
    recoveryMs: back === null ? null : back - outcome.faultAt,
    requests: requests.length,
    failed: failures.length,
    refused: errors.ECONNREFUSED ?? 0,
    reset: errors.ECONNRESET ?? 0,
    errors,
    slowestMs: Math.max(0, ...requests.map((r) => r.end - r.start)),
    leaked,
    reaches: c.prober.answersBetween(startedAt, endedAt),
    synsSent: c.prober.sentBetween(startedAt, endedAt),
    ...(tables === undefined ? {} : { tablesBackMs: tables.all, tableBackMs: tables.each }),
    extra: { ...outcome.extra, ...(restarted.length ? { restartedAfterCrash: restarted.join(' ') } : {}) },
    postcondition,
  };
}

/** eth0 packets with a client address over the whole run (between the faults too), after the positive control. */
export async function leaksSince(c: ChaosLab, from: number): Promise<string[]> {
  return (await wanLines(c.capture)).filter((l) => l.at >= from).map((l) => l.line);
}

export function formatRow(r: FaultRow): string {
  const ms = (v: number | null | undefined) => (v === undefined ? '-' : v === null ? 'never' : String(Math.round(v)));
  const each = Object.entries(r.tableBackMs ?? {}).map(([t, v]) => `${t} back ${ms(v)} ms`);
  const extra = [...each, ...Object.entries(r.extra).map(([k, v]) => `${k} ${v}`)].join(', ');
  return [
    r.fault.padEnd(44),
    ms(r.recoveryMs).padStart(8),
    String(r.leaked.length).padStart(6),
    String(r.reaches.length).padStart(7),
    `${r.failed}/${r.requests}`.padStart(8),
    String(r.refused).padStart(7),
    String(r.reset).padStart(5),
    ms(r.tablesBackMs).padStart(7),
    `${extra}${r.postcondition.length ? ` POST: ${r.postcondition.join('; ')}` : ''}`,
  ].join(' ');
}

export const ROW_HEADER = `${'fault'.padEnd(44)} ${'recov ms'.padStart(8)} ${'leaked'.padStart(6)} ${'reaches'.padStart(7)} ${'failed'.padStart(8)} ${'refused'.padStart(7)} ${'reset'.padStart(5)} ${'tables'.padStart(7)} notes`;

export function stateFileText(c: ChaosLab): string | null {
  const file = join(c.stateDir, 'policy.json');
  return existsSync(file) ? readFileSync(file, 'utf8') : null;
}
