import type { GatewayPolicy, InterfaceName, PolicyClient, VrrpPeer } from '@pgw/domain';
import { LOCAL_MARK } from '../lan/lan-routing.js';
import { nftCidr, nftCount, nftInterface, nftIpv4, nftMac, nftMark, nftPort, nftRate, nftUid } from './nft-values.js';
import { TPROXY_NFT_MARK, tproxyChains, UDP_NEW_SET } from './render-tproxy.js';
import { AGENT_SOCKET_NFT_MARK } from '../listeners/agent-socket-mark.js';

export const TABLE_FAMILY = 'inet';
export const TABLE_NAME = 'pgw';
const TABLE = `${TABLE_FAMILY} ${TABLE_NAME}`;

/** Named sets and maps of table inet pgw, with their nft type. */
export const SETS = {
  /** Effective clients: mapped, enabled, proxy up. */
  lan_mapped: 'type ipv4_addr;',
  /** Mapped clients that get nothing (mapping disabled, proxy down or unknown). */
  lan_blocked: 'type ipv4_addr;',
  /** DNAT target port of each effective client. */
  client_port: 'type ipv4_addr : inet_service;',
  /** The same pairs as a set: input lets a client reach only its own forwarder port. */
  client_ports: 'type ipv4_addr . inet_service;',
  /** Clients whose MAC is pinned (flow 19)... */
  pinned_clients: 'type ipv4_addr;',
  /** ...and the only source MAC each of them may use. */
  client_macs: 'type ipv4_addr . ether_addr;',
  /** Strict OUTPUT: the upstream proxy endpoints. */
  upstreams: 'type ipv4_addr . inet_service;',
  /** Strict OUTPUT: the uids that may reach them. */
  strict_uids: 'type uid;',
} as const;
export type SetName = keyof typeof SETS;

/** The dynamic set of flow 23 (each client's count of tracked connections; tests leave its elements out), and what its excess meets. */
export const FLOWS_SET = 'client_flows';
const FLOWS_CHAIN = 'over_flow_cap';
/** Flow 23's refusals by client (an element with a counter each), read for the agent's metrics (client-refusals.ts). */
export const FLOW_CAP_REFUSED_SET = 'flow_cap_refused';
/** Flow 25's dynamic set: each client's bucket of new TCP connections; what is over it meets this chain. */
const TCP_NEW_SET = 'tcp_new_rate';
const TCP_RATE_CHAIN = 'over_tcp_rate';
/** Flow 25's refusals by client, as FLOW_CAP_REFUSED_SET's. */
export const TCP_RATE_REFUSED_SET = 'tcp_rate_refused';
/** The sets the packet path fills, whose elements the renderer never writes nor the read-back compares. */
export const DYNAMIC_SETS: readonly string[] = [FLOWS_SET, FLOW_CAP_REFUSED_SET, UDP_NEW_SET, TCP_NEW_SET, TCP_RATE_REFUSED_SET];

export interface RenderedRuleset {
  /** One `nft -f -` transaction replacing table inet pgw as a whole (kernel sees old or new). */
  readonly script: string;
  /** The table definition without set elements: equal skeletons differ only in elements. */
  readonly skeleton: string;
  /** Elements of each set in nft syntax, sorted; the read-back must show exactly these. */
  readonly elements: Readonly<Record<SetName, readonly string[]>>;
  /** Rule count of each chain; the read-back must show exactly these chains. */
  readonly chains: Readonly<Record<string, number>>;
}

interface Chain {
  readonly name: string;
  /** Base chain header (`type ... hook ...`), absent for regular chains reached by jump. */
  readonly hook?: string;
  readonly rules: readonly string[];
}

/**
 * The complete ruleset for a policy. Every block is a drop or a reject (an accept in one table
 * is not final for another table, a drop is); the LAN's packets are judged in a filter chain
 * at priority -150, after conntrack (-200) and before DNAT (-100).
 */
export function renderRuleset(policy: GatewayPolicy): RenderedRuleset {
  const lan = nftInterface(policy.lan.interface);
  // Not rendered (strict OUTPUT covers every interface but lo), still refused when malformed.
  nftInterface(policy.wan.interface);
  const cidr = nftCidr(policy.lan.cidr);
  // TPROXY mode (issue 15): the interception, lan_input and the forwarder's replies differ; the rest is the same.
  const flowsCap = policy.flowsPerClient === undefined ? null : nftCount(policy.flowsPerClient);
  const tcpRate = policy.tcpNewPerSecond === undefined ? null : nftRate(policy.tcpNewPerSecond, 'connections');
  const tproxy = policy.interceptMode === 'tproxy' ? tproxyChains(lan, (policy.strictOutput?.upstreams ?? []).map((u) => nftIpv4(u.ip)), policy.udpNewPerSecond) : null;

  const chains: Chain[] = [
    {
      name: 'lan_prerouting',
      hook: 'type filter hook prerouting priority -150; policy accept;',
      rules: [`iifname ${lan} jump from_lan`],
    },
    {
      // Flows F4-F12 of docs/SECURITY.md, in order.
      name: 'from_lan',
      rules: [
        'meta nfproto ipv6 drop',
        // route_localnet hole: before DNAT no legitimate LAN packet is addressed to 127.0.0.0/8.
        'ip daddr 127.0.0.0/8 drop',
        'ct state invalid drop',
        `ip saddr != ${cidr} drop`,
        // Another LAN host that takes a pinned client's IP gets nothing, before DNAT (flow 19).
        'ip saddr @pinned_clients ip saddr . ether saddr != @client_macs drop',
        ...(policy.dnsMode === 'drop' ? ['udp dport 53 drop'] : []),
        'ip saddr @lan_blocked meta l4proto tcp reject with tcp reset',
        'ip saddr @lan_blocked drop',
        'ip saddr != @lan_mapped meta l4proto tcp reject with tcp reset',
        'ip saddr != @lan_mapped drop',
        tproxy?.lanProtocols ?? 'meta l4proto != tcp drop',
        // Flow 25: a client's new TCP connections past its rate are dropped (its SYN comes again a
        // second later: a burst slowed, not failed), before flow 23 counts them. Each is a dial
        // through a proxy: one client's flood of short connections took the forwarder's time from all.
        ...(tcpRate === null ? [] : [`meta l4proto tcp ct state new ct status & confirmed == 0 add @${TCP_NEW_SET} { ip saddr limit rate over ${tcpRate}/second burst ${tcpRate} packets } counter jump ${TCP_RATE_CHAIN}`]),
        // Flow 23: a client's new connection past its cap of tracked ones is refused before DNAT,
        // so its unconfirmed conntrack entry goes with the packet. Counted once per connection: on
        // its first packet (the entry not yet confirmed; a SYN sent again, or a UDP flow's next
        // datagram before an answer, finds it confirmed), by one rule (a second one, for TCP apart,
        // counted each connection twice: the cap halved, measured).
        ...(flowsCap === null ? [] : [`ct state new ct status & confirmed == 0 add @${FLOWS_SET} { ip saddr ct count over ${flowsCap} } counter jump ${FLOWS_CHAIN}`]),
      ],
    },
    // TCP with a reset, as a full port would answer; the rest dropped.
    // Its own rule first: a full set (65535 clients refused since the table was applied) fails the
    // add and ends that rule only, the refusal goes on.
    ...(flowsCap === null ? [] : [{ name: FLOWS_CHAIN, rules: [`add @${FLOW_CAP_REFUSED_SET} { ip saddr }`, 'meta l4proto tcp reject with tcp reset', 'drop'] }]),
    // Counted for its client in a rule of its own, as flow 23's; dropped, not reset.
    ...(tcpRate === null ? [] : [{ name: TCP_RATE_CHAIN, rules: [`add @${TCP_RATE_REFUSED_SET} { ip saddr }`, 'drop'] }]),
    ...(tproxy?.intercept ?? [{
      name: 'lan_dnat',
      hook: 'type nat hook prerouting priority dstnat; policy accept;',
      rules: [`iifname ${lan} meta l4proto tcp dnat ip to 127.0.0.1 : ip saddr map @client_port`],
    },
    {
      // After DNAT, before the routing decision: every packet of a flow DNAT-ed above (the SYN
      // too, its conntrack entry has IPS_DST_NAT by now) gets the mark that the policy routing
      // of lan-routing.ts requires for LAN -> 127/8. No table, no mark: the kernel refuses them.
      name: 'lan_mark',
      hook: 'type filter hook prerouting priority -90; policy accept;',
      rules: [`iifname ${lan} ct status dnat meta mark set meta mark | ${nftMark(LOCAL_MARK)}`],
    }]),
    {
      name: 'input',
      hook: 'type filter hook input priority filter; policy accept;',
      rules: ['ct state invalid drop', `iifname ${lan} jump lan_input`, ...(policy.vrrpPeer ? vrrpInput(policy.vrrpPeer) : [])],
    },
    {
      name: 'lan_input',
      rules: tproxy?.lanInput ?? [
        'ct status dnat ip daddr 127.0.0.1 ip saddr . tcp dport @client_ports accept',
        'meta l4proto tcp reject with tcp reset',
        'drop',
      ],
    },
    {
      // The replies of an intercepted flow (TPROXY's conntrack mark) leave by the LAN interface
      // only. A TPROXY relay's transparent socket, and the agent-made UDP reply sockets, send to
      // the client as the remote host: with the LAN's route gone (link down, ifdown) those packets
      // took the default route and left by the WAN. Only these flows: a LAN prefix that overlaps
      // something the gateway reaches by the WAN (a wide 10.0.0.0/8) keeps its routing.
      name: 'lan_only',
      hook: 'type filter hook postrouting priority filter; policy accept;',
      rules: [`ct direction reply ct mark & ${TPROXY_NFT_MARK} == ${TPROXY_NFT_MARK} oifname != ${lan} drop`],
    },
    {
      // The sockets the agent hands the forwarder (their mark: agent-socket-mark.ts), in either mode
      // (a forwarder keeps its sockets across a mode switch): a packet leaves only as a reply of an
      // intercepted flow to the LAN (TPROXY's conntrack mark, or DNAT), or from loopback to a local
      // peer (from another address it would be an answer forged into a local process's flow). Their
      // holder may send as the remote address they are bound to: a UDP reply socket by sendto() or
      // a new connect(), an accepted TPROXY connection after connect(AF_UNSPEC). Counted. After
      // conntrack (-200), before any mangle rule (-150) that could rewrite the mark.
      name: 'agent_sockets',
      hook: 'type filter hook output priority -180; policy accept;',
      rules: [
        // Exactly the mark: another program's mark that shares its bit is none of ours (the guard's chain stays loaded without pgw).
        `meta mark != ${AGENT_SOCKET_NFT_MARK} return`,
        `ct direction reply ct mark & ${TPROXY_NFT_MARK} == ${TPROXY_NFT_MARK} oifname ${lan} return`,
        `ct direction reply ct status dnat oifname ${lan} return`,
        'ct direction reply oifname "lo" ip saddr 127.0.0.0/8 return',
        'counter drop',
      ],
    },
    {
      name: 'forward',
      hook: 'type filter hook forward priority filter; policy accept;',
      rules: [
        'ct state invalid drop',
        `iifname ${lan} meta l4proto tcp reject with tcp reset`,
        `iifname ${lan} drop`,
        `oifname ${lan} drop`,
        // The interfaces carrying the LAN in its place (a bridge, bond or VLAN made over it after the
        // settings were taken; refused, built under meanwhile): the rules above match none of their
        // packets, and a forwarding bridge routed the clients out the WAN from their own addresses.
        // By name, not by the LAN's addresses: a wide LAN prefix may hold a network another
        // interface routes (docker0's 172.17/16 in 172.16/12).
        ...carrierRules(policy.lan.carriers ?? []),
      ],
    },
  ];
  if (policy.strictOutput) {
    chains.push(
      {
        name: 'output',
        hook: 'type filter hook output priority filter; policy accept;',
        // Every interface but lo: a local user's data must not leave by the LAN or a third interface either.
        rules: ['oifname != "lo" jump strict_output'],
      },
      {
        // Strict OUTPUT (flow 13): the gateway sends nothing but the relays and probes, the
        // forwarder's side of the clients' connections, and answers that no local user can use.
        name: 'strict_output',
        rules: [
          'ct state invalid drop',
          // The forwarder's side of a client's DNAT-ed connection, to that client from its own port:
          // only the socket that accepted it holds that tuple. Matched by the tuple, not the uid: the
          // SYN-ACK comes from the listening socket, whoever created it.
          ...(tproxy?.strictReplies ?? [
          `oifname ${lan} ct direction reply ct status dnat ip daddr . tcp sport @client_ports accept`,
          // The forwarder's reset of a client that was just blocked, unmapped or moved: its port has
          // left @client_ports, yet the client must learn at once that its connection ended. A reset
          // carries no data, and its conntrack entry un-NATs it to the tuple the client knows.
          `oifname ${lan} ct direction reply ct status dnat tcp flags & rst == rst accept`,
          ]),
          // The kernel's answers to packets that came in (the resets of the reject rules, ICMP
          // errors): no socket of a local user sends a related packet (no conntrack helpers).
          'ct direction reply ct state related accept',
          // Replies on connections opened to the gateway from outside (the operator's sshd) only from
          // root's sockets, which include the kernel's own resets and ACKs. Another uid's listener
          // cannot answer, so it cannot send data out either.
          'ct direction reply meta skuid 0 accept',
          'meta l4proto tcp ip daddr . tcp dport @upstreams meta skuid @strict_uids accept',
          ...(tproxy?.strictUdp ?? []),
          // An HA pair's VRRP adverts (keepalived, root) to the peer: dropped, the backup would stop
          // hearing the master and both would claim the LAN address. VRRP carries no user data, and
          // root is already trusted with its replies (above).
          'meta l4proto vrrp meta skuid 0 accept',
          // FIN/RST the kernel sends for those flows after their socket is gone (no owner uid).
          'meta l4proto tcp ct direction original ct state established ip daddr . tcp dport @upstreams accept',
          // A dropped SYN would leave the local connect retrying until its timeout; the reset is
          // delivered to the local socket (via lo), never sent on the WAN.
          'meta l4proto tcp reject with tcp reset',
          'drop',
        ],
      },
    );
  }

  const elements = renderElements(policy);
  const skeleton = [
    `table ${TABLE} {`,
    ...Object.entries(SETS).map(([name, type]) => `\t${name === 'client_port' ? 'map' : 'set'} ${name} { ${type} }`),
    // Filled by the packet path (one entry per client with its count), so not among SETS: the
    // read-back does not compare its elements, and the renderer writes none.
    ...(flowsCap === null ? [] : [`\tset ${FLOWS_SET} { type ipv4_addr; size 65535; flags dynamic; }`, `\tset ${FLOW_CAP_REFUSED_SET} { type ipv4_addr; size 65535; flags dynamic; counter; }`]),
    ...(tproxy?.sets ?? []),
    ...(tcpRate === null ? [] : [`\tset ${TCP_NEW_SET} { type ipv4_addr; size 65535; flags dynamic; }`, `\tset ${TCP_RATE_REFUSED_SET} { type ipv4_addr; size 65535; flags dynamic; counter; }`]),
    ...chains.flatMap((chain) => [`\tchain ${chain.name} {`, ...(chain.hook ? [`\t\t${chain.hook}`] : []), ...chain.rules.map((r) => `\t\t${r}`), '\t}']),
    '}',
  ].join('\n');
  let script: string | undefined;
  return {
    // Written out only when needed (a full apply, a self-heal): a delta run never joins the 200 KB of 4096 clients.
    get script() {
      script ??= [
        '# table inet pgw, generated by pgw-agent: replaced as a whole, do not edit',
        // Creating first makes the delete valid when the table is absent; all in one transaction.
        `table ${TABLE}`,
        `delete table ${TABLE}`,
        skeleton,
        ...addElementLines(elements),
        '',
      ].join('\n');
      return script;
    },
    skeleton,
    elements,
    chains: Object.fromEntries(chains.map((c) => [c.name, c.rules.length])),
  };
}

/** A client's element texts, checked and written once per client object (a build keeps unchanged clients as the same objects). */
interface ClientElements {
  readonly ip: string;
  readonly mac: string | null;
  /** Its DNAT elements (map `ip : port`, set `ip . port`), written when it is first rendered effective. */
  dnat?: { readonly port: string; readonly pair: string };
}
const elementsOf = new WeakMap<PolicyClient, ClientElements>();

function clientElements(client: PolicyClient): ClientElements {
  let known = elementsOf.get(client);
  if (known === undefined) {
    const ip = nftIpv4(client.ip);
    known = { ip, mac: client.mac ? `${ip} . ${nftMac(client.mac)}` : null };
    elementsOf.set(client, known);
  }
  return known;
}

function renderElements(policy: GatewayPolicy): Record<SetName, string[]> {
  const mapped: string[] = [];
  const blocked: string[] = [];
  const clientPort: string[] = [];
  const clientPorts: string[] = [];
  const pinned: string[] = [];
  const clientMacs: string[] = [];
  for (const client of policy.clients) {
    const elements = clientElements(client);
    // Pinned whether effective or blocked: the pin says who the client is, not whether it may exit.
    if (elements.mac !== null) {
      pinned.push(elements.ip);
      clientMacs.push(elements.mac);
    }
    if (client.blocked !== null) {
      blocked.push(elements.ip);
      continue;
    }
    const port = (elements.dnat ??= { port: `${elements.ip} : ${nftPort(client.port)}`, pair: `${elements.ip} . ${nftPort(client.port)}` });
    mapped.push(elements.ip);
    clientPort.push(port.port);
    clientPorts.push(port.pair);
  }
  const strict = policy.strictOutput;
  const upstreams = strict ? strict.upstreams.map((u) => `${nftIpv4(u.ip)} . ${nftPort(u.port)}`) : [];
  const uids = strict ? strict.allowedUids.map(nftUid) : [];
  return {
    lan_mapped: uniqueSorted(mapped),
    lan_blocked: uniqueSorted(blocked),
    client_port: uniqueSorted(clientPort),
    client_ports: uniqueSorted(clientPorts),
    pinned_clients: uniqueSorted(pinned),
    client_macs: uniqueSorted(clientMacs),
    upstreams: uniqueSorted(upstreams),
    strict_uids: uniqueSorted(uids),
  };
}

/** Sorted in place, duplicates dropped in the same pass (no Set of thousands of strings per render). */
function uniqueSorted(values: string[]): string[] {
  values.sort();
  let kept = 0;
  for (let i = 0; i < values.length; i++) if (i === 0 || values[i] !== values[kept - 1]) values[kept++] = values[i]!;
  values.length = kept;
  return values;
}

/** `add element` lines, one per non-empty set; shared by the full script and the delta. */
export function addElementLines(elements: Readonly<Partial<Record<SetName, readonly string[]>>>, verb: 'add' | 'create' | 'delete' = 'add'): string[] {
  const lines: string[] = [];
  for (const name of Object.keys(SETS) as SetName[]) {
    const values = elements[name];
    if (values && values.length > 0) lines.push(`${verb} element ${TABLE} ${name} { ${values.join(', ')} }`);
  }
  return lines;
}

/**
 * Flow 22 of docs/SECURITY.md: an HA node reads VRRP from its peer only, sent on the link itself
 * (TTL 255, never routed in). keepalived checks the same, but only after it read the packet, and a
 * packet it read restarted a master's advert timer: a flood from anyone on the link silenced the
 * master. After lan_input's jump, whose last rule drops: VRRP from the LAN never reaches these.
 */
/** Forwarding through the interfaces that carry the LAN in its interface's place, dropped as through it (GatewayPolicy lan.carriers). */
function carrierRules(carriers: readonly InterfaceName[]): string[] {
  if (carriers.length === 0) return [];
  const set = `{ ${carriers.map(nftInterface).join(', ')} }`;
  return [`iifname ${set} meta l4proto tcp reject with tcp reset`, `iifname ${set} drop`, `oifname ${set} drop`];
}

function vrrpInput(peer: VrrpPeer): string[] {
  return [
    `meta l4proto vrrp iifname ${nftInterface(peer.interface)} ip saddr ${nftIpv4(peer.ip)} ip ttl 255 accept`,
    'meta l4proto vrrp drop',
  ];
}
