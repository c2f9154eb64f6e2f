/**
 * An HA pair in the real lab (issue 18), shared by test/e2e/ha-failover.test.ts and
 * `npm run bench:failover`: two gateway namespaces on one LAN and one WAN (lab/ha-topology.ts),
 * each with the guard and the real agent and forwarder (test/support/gateway.ts) on one shared
 * Postgres and Redis, and keepalived with the config pgw renders (deploy/keepalived).
 * Measures what a client sees: when its new connections exit from its own proxy again, through
 * which node, and every packet with a client address on either node's eth0.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CHECK_USER, renderKeepalivedConf } from '../../deploy/keepalived/keepalived-config.js';
import type { Capture, LabProcess } from '../../lab/index.js';
import { createHaLab, type HaLab, type HaNode } from '../../lab/ha-topology.js';
import type { GatewayNodes } from '../../services/api/src/contract/types.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN_CREDENTIALS, Gateway } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';
import { analyzeWan, GUARD_LOADER, REPO } from './dataplane-harness.js';

export const PRIORITY = { a: 150, b: 100 } as const;
/** Each node's WAN carries the adverts (keepalived's vrrpInterface) and is where its agent takes them from the peer. */
const VRRP_INTERFACE = 'eth0';
/** Hold-down before the preferred node takes the address back (keepalived preempt_delay). */
export const PREEMPT_DELAY_S = 4;
const ADVERT_INTERVAL_S = 0.5;
/** How long one probe connection may take: beyond it the client counts as not served. */
const PROBE_TIMEOUT_MS = 500;

export interface ProbeSample {
  at: number;
  ok: boolean;
  /** The node the clients' ARP entry for the virtual IP pointed at before and after the probe. */
  via: 'a' | 'b' | 'none' | 'mixed';
  /** Why the probe failed: curl's error, or the exit address seen instead of the proxy's. */
  error?: string;
}

export interface HaPair {
  readonly ha: HaLab;
  readonly tdb: TestDatabase;
  readonly gateways: readonly [Gateway, Gateway];
  /** Each client and the proxy address it must exit from. */
  readonly clients: readonly { ip: string; expectedExitIp: string }[];
  /** A LAN address with no mapping: refused by either node. */
  readonly unmapped: string;
  node(name: 'a' | 'b'): HaNode;
  gateway(name: 'a' | 'b'): Gateway;
  startKeepalived(name: 'a' | 'b'): Promise<LabProcess>;
  killKeepalived(name: 'a' | 'b'): Promise<void>;
  holdsVip(name: 'a' | 'b'): Promise<boolean>;
  /** The VRRP transitions the node's notify hook recorded: "<time> pgw_lan <STATE> <priority> <pid>". */
  events(name: 'a' | 'b'): string;
  /** The log of the node's last keepalived. */
  keepalivedLog(name: 'a' | 'b'): string;
  /** GET /api/v1/nodes from the api started with the node's gateway (both nodes run one, on the shared stores). */
  apiNodes(via: 'a' | 'b'): Promise<GatewayNodes>;
  /** One new connection of the client, and the node that served it (from the clients' ARP entry). */
  probe(client: { ip: string; expectedExitIp: string }): Promise<ProbeSample>;
  /** Probes until a new connection exits from the client's proxy through `via`; every sample is kept. */
  untilServedBy(via: 'a' | 'b', client: { ip: string; expectedExitIp: string }, maxMs: number): Promise<{ samples: ProbeSample[]; servedAt: number | undefined }>;
  /** tcpdump on the nodes' eth0 (both unless told) from now on. */
  captureWans(nodes?: readonly ('a' | 'b')[]): Promise<{ stop(node?: 'a' | 'b'): Promise<{ leaked: string[]; packets: number }> }>;
  destroy(): Promise<void>;
}

/** The longest time between two successful probes (or from the first sample to the first success). */
export function longestGap(samples: readonly ProbeSample[], from: number): number {
  let last = from;
  let gap = 0;
  for (const s of samples) {
    if (!s.ok) continue;
    gap = Math.max(gap, s.at - last);
    last = s.at;
  }
  return gap;
}

export async function createHaPair(): Promise<HaPair> {
  execFileSync('npx', ['tsc', '-b', join(REPO, 'services/agent'), join(REPO, 'services/forwarder')], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
  const ha = await createHaLab({ clients: 3, proxies: ['socks5', 'http'] });
  const cleanups: (() => Promise<unknown>)[] = [() => ha.destroy()];
  const destroy = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const { lab } = ha;
    const tdb = await createTestDatabase({ prefix: 'pgw_ha' });
    cleanups.push(() => tdb.drop());
    const [nodeA, nodeB] = ha.nodes;
    // Each node's name keys its status records and its own Redis users; its agent reads the state
    // keepalived's hook writes, and takes VRRP from its peer only, on keepalived's own link.
    const nodeEnv = (name: 'a' | 'b', dir: string) => ({
      agent: {
        PGW_NODE_NAME: `pgw-${name}`,
        PGW_HA_STATE_FILE: join(dir, 'ha-state'),
        PGW_HA_PEER_IP: (name === 'a' ? nodeB : nodeA).wanIp,
        PGW_HA_VRRP_IF: VRRP_INTERFACE,
        PGW_REDIS_URL: lab.redis.url('agent', `pgw-${name}`),
      },
      forwarder: { PGW_NODE_NAME: `pgw-${name}`, PGW_REDIS_URL: lab.redis.url('forwarder', `pgw-${name}`) },
    });
    const dirA = join(lab.dir, 'node-a');
    const dirB = join(lab.dir, 'node-b');
    const gwA = new Gateway(lab, tdb, { ns: nodeA.ns, dir: dirA, env: nodeEnv('a', dirA) });
    const gwB = new Gateway(lab, tdb, { ns: nodeB.ns, dir: dirB, secretKey: gwA.secretKey, env: nodeEnv('b', dirB) });
    cleanups.push(() => gwA.destroy(), () => gwB.destroy());
    const byName = { a: { node: nodeA, gw: gwA }, b: { node: nodeB, gw: gwB } };
    const keepalived = new Map<'a' | 'b', LabProcess>();
    const keepalivedLog = new Map<'a' | 'b', string>();
    let keepalivedRuns = 0;

    for (const { node } of Object.values(byName)) await lab.exec(node.ns, [GUARD_LOADER]);
    const seeded = await gwA.seedAllClients();
    const unmapped = seeded.pop()!.ip;
    await tdb.db.deleteFrom('mappings').where('clientIp', '=', unmapped).execute();
    const clients = seeded;
    for (const gw of [gwA, gwB]) {
      await gw.start('forwarder');
      await gw.start('agent');
    }
    // The api runs beside each node (its state is all in Postgres and Redis): both must tell the same.
    const tokens = new Map<'a' | 'b', string>();
    for (const [name, gw] of [['a', gwA], ['b', gwB]] as const) {
      await gw.start('api');
      const login = await fetch(`${gw.apiUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ADMIN_CREDENTIALS) });
      tokens.set(name, ((await login.json()) as { token: string }).token);
    }

    const confOf = (name: 'a' | 'b') => {
      const self = byName[name].node;
      const peer = byName[name === 'a' ? 'b' : 'a'].node;
      return renderKeepalivedConf({
        node: { routerId: `pgw-${name}`, priority: PRIORITY[name], vrrpSourceIp: self.wanIp, peerIp: peer.wanIp },
        virtualIp: ha.virtualIp,
        virtualPrefix: 24,
        lanInterface: 'ens19',
        wanInterface: VRRP_INTERFACE,
        vrrpInterface: VRRP_INTERFACE,
        virtualRouterId: 18,
        advertIntervalS: ADVERT_INTERVAL_S,
        preemptDelayS: PREEMPT_DELAY_S,
        healthPorts: { agent: 9101, forwarder: 9102 },
        checkScript: join(REPO, 'deploy/keepalived/pgw-ha-check.sh'),
        notifyScript: join(REPO, 'deploy/keepalived/pgw-ha-notify.sh'),
        stateFile: join(byName[name].gw.dir, 'ha-state'),
        eventsFile: join(byName[name].gw.dir, 'ha-events.log'),
        notifyFifo: join(byName[name].gw.dir, 'ha-notify.fifo'),
        checkUser: DEFAULT_CHECK_USER,
      });
    };
    for (const name of ['a', 'b'] as const) {
      writeFileSync(join(byName[name].gw.dir, 'ha-events.log'), '');
      writeFileSync(join(byName[name].gw.dir, 'keepalived.conf'), confOf(name), { mode: 0o644 });
    }

    const macVia = async (): Promise<ProbeSample['via']> => {
      const mac = await ha.clientsGatewayMac();
      return mac === nodeA.lanMac ? 'a' : mac === nodeB.lanMac ? 'b' : 'none';
    };

    const pair: HaPair = {
      ha,
      tdb,
      gateways: [gwA, gwB],
      clients,
      unmapped,
      node: (name) => byName[name].node,
      gateway: (name) => byName[name].gw,
      async startKeepalived(name) {
        const dir = byName[name].gw.dir;
        // Fresh pid files per start: after a SIGKILL the VRRP child may linger as a zombie until the
        // machine's init reaps it, and keepalived refuses to start while its pid file names a live pid.
        const run = ++keepalivedRuns;
        const proc = await lab.spawn(byName[name].node.ns, [
          'keepalived', '--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp',
          `--use-file=${join(dir, 'keepalived.conf')}`, `--pid=${join(dir, `keepalived-${run}.pid`)}`, `--vrrp_pid=${join(dir, `keepalived-vrrp-${run}.pid`)}`,
        ], { name: `keepalived-${name}`, logFile: join(dir, `keepalived-${run}.log`) });
        keepalivedLog.set(name, join(dir, `keepalived-${run}.log`));
        keepalived.set(name, proc);
        return proc;
      },
      async killKeepalived(name) {
        const proc = keepalived.get(name);
        if (!proc) return;
        await proc.kill(); // the whole process group: parent and VRRP child, as a crash or OOM kill would
        await proc.exited;
        keepalived.delete(name);
      },
      async holdsVip(name) {
        const out = (await lab.exec(byName[name].node.ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'ens19'], { reject: false })).stdout;
        return out.includes(` ${ha.virtualIp}/`);
      },
      async apiNodes(via) {
        const res = await fetch(`${byName[via].gw.apiUrl}/api/v1/nodes`, { headers: { authorization: `Bearer ${tokens.get(via)}` }, signal: AbortSignal.timeout(2_000) });
        if (res.status !== 200) throw new Error(`GET /api/v1/nodes through ${via}: ${res.status} ${await res.text()}`);
        return (await res.json()) as GatewayNodes;
      },
      keepalivedLog: (name) => execFileSync('cat', [keepalivedLog.get(name) ?? '/dev/null'], { encoding: 'utf8' }),
      events: (name) => execFileSync('cat', [join(byName[name].gw.dir, 'ha-events.log')], { encoding: 'utf8' }),
      async probe(client) {
        const before = await macVia();
        const r = await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: client.ip, timeoutMs: PROBE_TIMEOUT_MS });
        const at = Date.now();
        const after = await macVia();
        const via = before === after ? before : 'mixed';
        if (!r.ok) return { at, ok: false, via, error: r.error };
        const exit = r.status === 200 ? (JSON.parse(r.body) as { ip: string }).ip : `HTTP ${r.status}`;
        return exit === client.expectedExitIp ? { at, ok: true, via } : { at, ok: false, via, error: `exit ${exit}` };
      },
      async untilServedBy(via, client, maxMs) {
        const samples: ProbeSample[] = [];
        const deadline = Date.now() + maxMs;
        while (Date.now() < deadline) {
          const s = await pair.probe(client);
          samples.push(s);
          if (s.ok && s.via === via) return { samples, servedAt: s.at };
        }
        return { samples, servedAt: undefined };
      },
      async captureWans(nodes = ['a', 'b'] as const) {
        const captures = new Map<'a' | 'b', Capture>();
        for (const name of nodes) captures.set(name, await lab.capture({ ns: byName[name].node.ns, iface: 'eth0' }));
        const proxies = lab.proxies.map((p) => ({ ip: p.ip, port: p.port }));
        return {
          async stop(only) {
            const result = { leaked: [] as string[], packets: 0 };
            for (const [name, capture] of captures) {
              if (only && name !== only) continue;
              captures.delete(name);
              const wan = analyzeWan(await capture.stop(), lab.clients, proxies);
              result.leaked.push(...wan.fromClients.map((l) => `node ${name}: ${l}`));
              result.packets += wan.all.length;
            }
            return result;
          },
        };
      },
      destroy,
    };
    return pair;
  } catch (error) {
    await destroy();
    throw error;
  }
}

/** Waits until `name` holds the virtual IP and the clients' ARP entry points at it. */
export async function waitMaster(pair: HaPair, name: 'a' | 'b', timeoutMs = 15_000): Promise<void> {
  await waitFor(`node ${name} to hold ${pair.ha.virtualIp} with the clients' ARP entry on it`, timeoutMs, async () => {
    if (!(await pair.holdsVip(name))) return false;
    const served = await pair.probe(pair.clients[0]!);
    return served.ok && served.via === name;
  }, { intervalMs: 100 });
}
