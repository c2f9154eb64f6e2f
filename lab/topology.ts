/** Pure plan of a lab's namespaces, addresses and `ip -batch` commands (no I/O). */
import type { LabNamespaces, ProxyKind } from './types.js';

export const ADDR = {
  gatewayLan: '192.168.2.1',
  gatewayLanLinkLocal: '169.254.2.1',
  gatewayLan6: 'fd00:2::1',
  client6: 'fd00:2::10',
  gatewayWan: '198.51.100.1',
  wanRouter: '198.51.100.254',
  internet: '203.0.113.10',
  /** The WAN's DNS server (lab/dns-server.ts): whoami.pgw.test TXT -> the query's source address. */
  dns: '203.0.113.53',
  lanNet: '192.168.2.0/24',
  internetNet: '203.0.113.0/24',
} as const;

export const PORTS = { http: 80, tcpEcho: 7, udpEcho: 7, dns: 53, iperf: 5201, socks: 1080, httpProxy: 3128 } as const;

export const MAX_CLIENTS = 256;
/** Clients .10-.253 fit beside the gateway's .1 in the /24; more take the whole /24 as /32s. */
export const MAX_CLIENTS_BESIDE_GATEWAY = 244;
export const DEFAULT_PROXIES: readonly ProxyKind[] = ['socks5', 'socks5-auth', 'http'];
const PROXY_KINDS: readonly ProxyKind[] = ['socks5', 'socks5-auth', 'http', 'http-auth'];

export function namespaceNames(id: string): LabNamespaces {
  return { gateway: `pgw-gw-${id}`, lan: `pgw-lan-${id}`, wan: `pgw-wan-${id}`, lanHost: `pgw-lanh-${id}` };
}

/** The second gateway of an HA pair made from the lab (lab/ha-topology.ts). */
export function haNodeNamespace(id: string): string {
  return `pgw-gwb-${id}`;
}

/** Namespace names a lab creates, e.g. pgw-gw-1a2b3c (group 2 is the lab id); pgw-gwb- is an HA pair's node b. */
export const LAB_NS_PATTERN = /^pgw-(gw|gwb|lan|lanh|wan)-([0-9a-f]{6})$/;

export interface ProxyPlan {
  kind: ProxyKind;
  ip: string;
  port: number;
}

export interface TopologyPlan {
  ns: LabNamespaces;
  /** true when the clients take the whole /24 and the gateway uses a link-local address */
  wide: boolean;
  gatewayLanIp: string;
  clients: string[];
  proxies: ProxyPlan[];
  batches: { gateway: string[]; lan: string[]; wan: string[] };
  gatewaySysctls: string[];
}

export function clientAddresses(count: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_CLIENTS) {
    throw new Error(`clients must be an integer in 1..${MAX_CLIENTS}, got ${count}`);
  }
  const first = count > MAX_CLIENTS_BESIDE_GATEWAY ? 0 : 10;
  return Array.from({ length: count }, (_, i) => `192.168.2.${first + i}`);
}

export function planTopology(id: string, clientCount: number, proxyKinds: readonly ProxyKind[]): TopologyPlan {
  if (!/^[0-9a-f]{6}$/.test(id)) throw new Error(`lab id must be 6 hex characters, got ${JSON.stringify(id)}`);
  for (const kind of proxyKinds) {
    if (!PROXY_KINDS.includes(kind)) throw new Error(`unknown proxy kind ${JSON.stringify(kind)} (expected one of ${PROXY_KINDS.join(', ')})`);
  }
  if (proxyKinds.length > 240) throw new Error(`at most 240 proxies, got ${proxyKinds.length}`);
  const ns = namespaceNames(id);
  const clients = clientAddresses(clientCount);
  const wide = clientCount > MAX_CLIENTS_BESIDE_GATEWAY;
  const proxies = proxyKinds.map((kind, i) => ({
    kind,
    ip: `198.51.100.${10 + i}`,
    port: kind.startsWith('socks5') ? PORTS.socks : PORTS.httpProxy,
  }));

  // Veth pairs are created from inside the gateway ns with their peers placed straight into
  // the other namespaces, so no interface ever exists in the machine's own namespace.
  const gateway = [
    'link set lo up',
    `link add ens19 type veth peer name gw0 netns ${ns.lan}`,
    `link add eth0 type veth peer name gw netns ${ns.wan}`,
    wide ? `addr add ${ADDR.gatewayLanLinkLocal}/32 dev ens19` : `addr add ${ADDR.gatewayLan}/24 dev ens19`,
    `addr add ${ADDR.gatewayLan6}/64 dev ens19 nodad`,
    `addr add ${ADDR.gatewayWan}/24 dev eth0`,
    'link set ens19 up',
    'link set eth0 up',
    ...(wide ? [`route add ${ADDR.lanNet} dev ens19`] : []),
    `route add ${ADDR.internetNet} via ${ADDR.wanRouter} dev eth0`,
  ];
  const lan = [
    'link set lo up',
    ...clients.map((ip) => (wide ? `addr add ${ip}/32 dev gw0` : `addr add ${ip}/24 dev gw0`)),
    `addr add ${ADDR.client6}/64 dev gw0 nodad`,
    'link set gw0 up',
    wide ? `route add default via ${ADDR.gatewayLanLinkLocal} dev gw0 onlink` : `route add default via ${ADDR.gatewayLan} dev gw0`,
    `route add ::/0 via ${ADDR.gatewayLan6} dev gw0`,
  ];
  const wan = [
    'link set lo up',
    `addr add ${ADDR.wanRouter}/24 dev gw`,
    ...proxies.map((p) => `addr add ${p.ip}/24 dev gw`),
    `addr add ${ADDR.internet}/32 dev lo`,
    `addr add ${ADDR.dns}/32 dev lo`,
    'link set gw up',
    // So that a packet leaked by the gateway really arrives and is answered (positive controls).
    `route add ${ADDR.lanNet} via ${ADDR.gatewayWan} dev gw`,
  ];
  return {
    ns,
    wide,
    gatewayLanIp: wide ? ADDR.gatewayLanLinkLocal : ADDR.gatewayLan,
    clients,
    proxies,
    batches: { gateway, lan, wan },
    // Worst case on purpose: the gateway forwards, so only pgw's nftables stop leaks.
    gatewaySysctls: ['net.ipv4.ip_forward=1'],
  };
}
