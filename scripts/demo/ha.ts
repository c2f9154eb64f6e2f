/**
 * The demo's HA pair (`demo.sh up --ha`, issue 18): the lab's gateway is node a, a second gateway
 * namespace node b (lab/ha-topology.ts, built detached by `lab/cli.ts up --ha`), both on one LAN
 * bridge and one WAN; each node runs all four services and keepalived with the config pgw renders
 * (deploy/keepalived), as test/e2e/ha-harness.ts does. What differs per node is here.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CHECK_USER, renderKeepalivedConf } from '../../deploy/keepalived/keepalived-config.js';
import { HA_ADDR } from '../../lab/ha-topology.js';
import { nsArgv } from '../../lab/netns.js';
import { isSameProcessAlive, stopForeignGroup } from '../../lab/proc.js';
import { spawnProcess } from '../../lab/process.js';
import { labRedisUrl } from '../../lab/redis.js';
import { SERVICE_SPECS } from '../../lab/services.js';
import type { LabDescription } from '../../lab/types.js';
import type { DemoService } from './services.js';

export interface DemoNode {
  readonly name: 'a' | 'b';
  /** PGW_NODE_NAME: its records' key and its agent's and forwarder's own Redis users. */
  readonly nodeName: string;
  readonly ns: string;
  readonly lanIp: string;
  readonly wanIp: string;
  /** The other node's WAN address: the one sender of VRRP this node's agent lets through. */
  readonly peerWanIp: string;
  readonly priority: number;
  /** The node's api (machine namespace) and the api's metrics port. */
  readonly apiPort: number;
  readonly apiMetricsPort: number;
  /** Where the node keeps its agent state, HA state file and keepalived files (root only). */
  readonly dir: string;
  /** In the lab's directory: the forwarder's uid reaches its listener socket and state dir there. */
  readonly labDir: string;
}

const VIRTUAL_ROUTER_ID = 18;
const ADVERT_INTERVAL_S = 0.5;
/** Each node's WAN: keepalived's adverts and the agent's VRRP filter use the same link. */
const VRRP_INTERFACE = 'eth0';
const PREEMPT_DELAY_S = 4;

/** A lab from `lab/cli.ts up --ha` records node b's namespace beside its own. */
export function haNodeNs(lab: LabDescription): string | undefined {
  return (lab.namespaces as unknown as Record<string, string | undefined>).haNode;
}

export function demoNodes(lab: LabDescription, dir: string, apiPort: number): [DemoNode, DemoNode] {
  const nsB = haNodeNs(lab);
  if (nsB === undefined) throw new Error(`the lab ${lab.id} is not an HA pair's lab (no node b namespace): run down first`);
  const node = (name: 'a' | 'b', ns: string, addr: { lan: string; wan: string }, peer: { wan: string }, priority: number, offset: number): DemoNode => ({
    name,
    nodeName: `pgw-${name}`,
    ns,
    lanIp: addr.lan,
    wanIp: addr.wan,
    peerWanIp: peer.wan,
    priority,
    apiPort: apiPort + offset,
    apiMetricsPort: apiPort + 100 + offset,
    dir: join(dir, `node-${name}`),
    labDir: join(lab.dir, `node-${name}`),
  });
  return [node('a', lab.namespaces.gateway, HA_ADDR.nodeA, HA_ADDR.nodeB, 150, 0), node('b', nsB, HA_ADDR.nodeB, HA_ADDR.nodeA, 100, 1)];
}

/** Creates the node's directories: its own (root, 0700) and the forwarder's state dir in the lab (uid pgw, 0700). */
export function prepareNodeDirs(node: DemoNode): void {
  mkdirSync(node.dir, { recursive: true, mode: 0o700 });
  mkdirSync(node.labDir, { recursive: true, mode: 0o755 });
  const forwarderState = join(node.labDir, 'forwarder-state');
  mkdirSync(forwarderState, { recursive: true, mode: 0o700 });
  const id = (flag: string) => Number(execFileSync('id', [flag, SERVICE_SPECS.forwarder.uid], { encoding: 'utf8' }).trim());
  chownSync(forwarderState, id('-u'), id('-g'));
}

/** What a node's service needs beyond the single demo's environment. */
export function nodeEnv(node: DemoNode, service: DemoService, lab: LabDescription): Record<string, string> {
  const listenerSocket = join(node.labDir, 'listeners.sock');
  switch (service) {
    case 'agent':
      return {
        PGW_NODE_NAME: node.nodeName,
        PGW_REDIS_URL: labRedisUrl(lab.dir, 'agent', node.nodeName),
        PGW_STATE_DIR: join(node.dir, 'agent-state'),
        PGW_HA_STATE_FILE: join(node.dir, 'ha-state'),
        PGW_HA_PEER_IP: node.peerWanIp,
        PGW_HA_VRRP_IF: VRRP_INTERFACE,
        PGW_LISTENER_SOCKET: listenerSocket,
      };
    case 'forwarder':
      return {
        PGW_NODE_NAME: node.nodeName,
        PGW_REDIS_URL: labRedisUrl(lab.dir, 'forwarder', node.nodeName),
        PGW_LISTENER_SOCKET: listenerSocket,
        PGW_FORWARDER_STATE_DIR: join(node.labDir, 'forwarder-state'),
      };
    case 'health':
      return {};
    case 'api':
      return { PGW_API_PORT: String(node.apiPort), PGW_API_METRICS_PORT: String(node.apiMetricsPort) };
  }
}

function keepalivedConf(node: DemoNode, peer: DemoNode, repo: string): string {
  return renderKeepalivedConf({
    node: { routerId: node.nodeName, priority: node.priority, vrrpSourceIp: node.wanIp, peerIp: peer.wanIp },
    virtualIp: HA_ADDR.virtualIp,
    virtualPrefix: 24,
    lanInterface: 'ens19',
    wanInterface: VRRP_INTERFACE,
    vrrpInterface: VRRP_INTERFACE,
    virtualRouterId: VIRTUAL_ROUTER_ID,
    advertIntervalS: ADVERT_INTERVAL_S,
    preemptDelayS: PREEMPT_DELAY_S,
    healthPorts: { agent: SERVICE_SPECS.agent.metricsPort!, forwarder: SERVICE_SPECS.forwarder.metricsPort! },
    checkScript: join(repo, 'deploy/keepalived/pgw-ha-check.sh'),
    notifyScript: join(repo, 'deploy/keepalived/pgw-ha-notify.sh'),
    stateFile: join(node.dir, 'ha-state'),
    eventsFile: join(node.dir, 'ha-events.log'),
    notifyFifo: join(node.dir, 'ha-notify.fifo'),
    checkUser: DEFAULT_CHECK_USER,
  });
}

interface KeepalivedRecord {
  pid: number;
  startTime: string;
}
const recordFile = (node: DemoNode) => join(node.dir, 'keepalived.json');

function runningKeepalived(node: DemoNode): KeepalivedRecord | undefined {
  if (!existsSync(recordFile(node))) return undefined;
  const record = JSON.parse(readFileSync(recordFile(node), 'utf8')) as KeepalivedRecord;
  return isSameProcessAlive(record.pid, record.startTime) ? record : undefined;
}

/** Starts the node's keepalived detached (it outlives the demo command), unless it runs. Returns whether it started one. */
export async function startKeepalived(node: DemoNode, peer: DemoNode, repo: string, logDir: string): Promise<boolean> {
  if (runningKeepalived(node)) return false;
  const conf = join(node.dir, 'keepalived.conf');
  writeFileSync(conf, keepalivedConf(node, peer, repo), { mode: 0o644 });
  if (!existsSync(join(node.dir, 'ha-events.log'))) writeFileSync(join(node.dir, 'ha-events.log'), '');
  const stamp = Date.now();
  const argv = [
    'keepalived', '--dont-fork', '--log-console', '--no-syslog', '--vrrp', `--use-file=${conf}`,
    // Fresh pid files per start: a killed keepalived's stale ones would stop the next.
    `--pid=${join(node.dir, `keepalived-${stamp}.pid`)}`, `--vrrp_pid=${join(node.dir, `keepalived-vrrp-${stamp}.pid`)}`,
  ];
  const proc = await spawnProcess(nsArgv(node.ns, argv), { logFile: join(logDir, `keepalived-${node.name}.log`), detached: true, name: `keepalived-${node.name}` });
  writeFileSync(recordFile(node), JSON.stringify({ pid: proc.pid, startTime: proc.startTime } satisfies KeepalivedRecord));
  return true;
}

export async function stopKeepalived(node: DemoNode): Promise<void> {
  const record = runningKeepalived(node);
  if (record) await stopForeignGroup(record.pid, record.startTime, 5_000);
}

/** Whether the node holds the virtual IP on its LAN interface. */
export function holdsVip(node: DemoNode): boolean {
  const out = execFileSync('ip', ['netns', 'exec', node.ns, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'ens19'], { encoding: 'utf8' });
  return out.includes(` ${HA_ADDR.virtualIp}/`);
}

/** Waits (bounded) until exactly one node holds the virtual IP; returns it. */
export async function waitForMaster(nodes: readonly DemoNode[], timeoutMs = 20_000): Promise<DemoNode> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const holders = nodes.filter(holdsVip);
    if (holders.length === 1) return holders[0]!;
    if (Date.now() > deadline) throw new Error(`no single node holds ${HA_ADDR.virtualIp} after ${timeoutMs} ms (holders: ${holders.map((n) => n.nodeName).join(', ') || 'none'}); see the keepalived logs`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
