/**
 * An HA pair in the lab (issue 18): a lab from createLab, unchanged for everyone else, turned into
 * two gateway namespaces on one LAN segment and one WAN segment. The LAN and WAN namespaces gain a
 * bridge each (br0, brw) that takes over their veth's addresses; the lab's gateway becomes node a
 * (LAN 192.168.2.2, WAN 198.51.100.1) and a second namespace node b (192.168.2.3, 198.51.100.2)
 * hangs off both bridges with the same interface names (ens19, eth0). Neither node holds the
 * clients' default gateway 192.168.2.1: that is the VRRP virtual address keepalived moves.
 */
import { join } from 'node:path';
import { onProcessExit } from './exit-hooks.js';
import { createLab } from './lab.js';
import { execIn, ipBatch } from './netns.js';
import { stateFile, writeState } from './state.js';
import { teardownLab, teardownLabSync } from './teardown.js';
import { ADDR, haNodeNamespace } from './topology.js';
import type { Lab, LabNamespaces, LabOptions } from './types.js';

export const HA_ADDR = {
  /** The clients' default gateway: held by whichever node is VRRP master. */
  virtualIp: ADDR.gatewayLan,
  nodeA: { lan: '192.168.2.2', wan: ADDR.gatewayWan },
  nodeB: { lan: '192.168.2.3', wan: '198.51.100.2' },
} as const;

/** Locally administered; each lab's bridges live in that lab's own namespaces. */
const BRIDGE_MAC = { lan: '02:70:67:77:02:01', wan: '02:70:67:77:64:01' } as const;

export interface HaNode {
  readonly name: 'a' | 'b';
  /** Its PGW_NODE_NAME (pgw-a, pgw-b): the key of its records and of its agent's and forwarder's Redis users. */
  readonly nodeName: string;
  readonly ns: string;
  readonly lanIp: string;
  readonly wanIp: string;
  /** MAC of the node's ens19: where the clients' ARP entry for the virtual IP points while it is master. */
  readonly lanMac: string;
}

export interface HaLab {
  readonly lab: Lab;
  readonly nodes: readonly [HaNode, HaNode];
  readonly virtualIp: string;
  /** The MAC the clients' neighbour table holds for the virtual IP (undefined while unresolved). */
  clientsGatewayMac(): Promise<string | undefined>;
  destroy(): Promise<void>;
}

/** The `ip -batch` plans (pure): what each namespace gains beyond createLab's topology. */
export function planHaTopology(clients: readonly string[], wanAddrs: readonly string[], lanNs: string, wanNs: string) {
  return {
    lan: [
      // Fixed MACs: a bridge otherwise takes its lowest port's MAC and changes it when that port goes
      // (a node's namespace removed), which the other node's ARP cache would not know for a while.
      `link add br0 address ${BRIDGE_MAC.lan} type bridge forward_delay 0`,
      'addr flush dev gw0',
      'link set gw0 master br0',
      'link set gwb0 master br0',
      'link set gwb0 up',
      'link set br0 up',
      ...clients.map((ip) => `addr add ${ip}/24 dev br0`),
      `route add default via ${HA_ADDR.virtualIp} dev br0`,
    ],
    wan: [
      `link add brw address ${BRIDGE_MAC.wan} type bridge forward_delay 0`,
      'addr flush dev gw',
      'link set gw master brw',
      'link set gwb master brw',
      'link set gwb up',
      'link set brw up',
      ...wanAddrs.map((ip) => `addr add ${ip}/24 dev brw`),
      // As createLab's: a leaked packet would really be answered (positive controls), via node a.
      `route add ${ADDR.lanNet} via ${HA_ADDR.nodeA.wan} dev brw`,
    ],
    nodeA: [`addr del ${ADDR.gatewayLan}/24 dev ens19`, `addr add ${HA_ADDR.nodeA.lan}/24 dev ens19`],
    nodeB: [
      'link set lo up',
      // Created from inside node b with the peers placed straight into the LAN and WAN namespaces.
      `link add ens19 type veth peer name gwb0 netns ${lanNs}`,
      `link add eth0 type veth peer name gwb netns ${wanNs}`,
      `addr add ${HA_ADDR.nodeB.lan}/24 dev ens19`,
      `addr add ${HA_ADDR.nodeB.wan}/24 dev eth0`,
      'link set ens19 up',
      'link set eth0 up',
      `route add ${ADDR.internetNet} via ${ADDR.wanRouter} dev eth0`,
    ],
  };
}

async function macOf(ns: string, iface: string): Promise<string> {
  const link = JSON.parse((await execIn(ns, ['ip', '-j', 'link', 'show', iface])).stdout) as { address: string }[];
  return link[0]!.address;
}

/** Creates the lab and its second gateway namespace (pgw-gwb-<id>); destroy() removes both. */
export async function createHaLab(options: LabOptions = {}): Promise<HaLab> {
  const lab = await createLab(options);
  const nsB = haNodeNamespace(lab.id);
  const dirB = join(lab.dir, 'node-b-ns');
  // Only node b's namespace: the lab's own are the lab's to remove.
  const own = { dir: dirB, namespaces: { gateway: nsB } as unknown as LabNamespaces, processes: [] };
  // A detached pair (the demo's `up --ha`) outlives this process: node b goes with the lab's state instead.
  const unhook = options.detached ? () => false : onProcessExit(() => teardownLabSync(own));
  const destroy = async () => {
    // Node b's processes were started through the lab, which stops them; whatever is left is killed with its namespace.
    await lab.destroy();
    await teardownLab(own);
    unhook();
  };
  try {
    await execIn(undefined, ['ip', 'netns', 'add', nsB]);
    if (options.detached) {
      // Recorded as one of the lab's namespaces (as cleanup.ts names it): `lab/cli.ts down` removes it with the rest.
      (lab.description.namespaces as unknown as Record<string, string>).haNode = nsB;
      writeState(stateFile(lab.dir), lab.description);
    }
    const wanAddrs = [ADDR.wanRouter, ...lab.proxies.map((p) => p.ip)];
    const plan = planHaTopology(lab.clients, wanAddrs, lab.ns.lan, lab.ns.wan);
    await ipBatch(nsB, plan.nodeB);
    await execIn(nsB, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await Promise.all([ipBatch(lab.ns.lan, plan.lan), ipBatch(lab.ns.wan, plan.wan), ipBatch(lab.ns.gateway, plan.nodeA)]);
    const nodes: [HaNode, HaNode] = [
      { name: 'a', nodeName: 'pgw-a', ns: lab.ns.gateway, lanIp: HA_ADDR.nodeA.lan, wanIp: HA_ADDR.nodeA.wan, lanMac: await macOf(lab.ns.gateway, 'ens19') },
      { name: 'b', nodeName: 'pgw-b', ns: nsB, lanIp: HA_ADDR.nodeB.lan, wanIp: HA_ADDR.nodeB.wan, lanMac: await macOf(nsB, 'ens19') },
    ];
    // Each node's agent and forwarder get their own Redis user, granted only their node's keys (issue 18).
    await lab.redis.usePerNodeUsers(nodes.map((n) => n.nodeName));
    return {
      lab,
      nodes,
      virtualIp: HA_ADDR.virtualIp,
      async clientsGatewayMac() {
        const rows = JSON.parse((await execIn(lab.ns.lan, ['ip', '-j', 'neigh', 'show', HA_ADDR.virtualIp, 'dev', 'br0'])).stdout) as { lladdr?: string }[];
        return rows[0]?.lladdr;
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}
