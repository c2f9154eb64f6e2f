import type { DesiredState } from '@pgw/db';
import {
  cidrContains,
  GatewayAddresses,
  type GatewayPolicy,
  interfaceNameSchema,
  type Ipv4,
  ipv4Schema,
  ipv4ToInt,
  lanNetworkProblem,
  type PolicyClient,
  type PolicyUpstream,
  ProxyHostPolicy,
  upstreamChooser,
  type VrrpPeer,
} from '@pgw/domain';
import { lanCarriers, lanRouteRefusal } from './lan-route-check.js';
import { interfaceRefusal } from './interface-check.js';
import type { LinkRoute } from './proc-net.js';
import { type PortFacts, portRefusal, windowRefusal } from './port-window.js';

export interface RejectedMapping {
  readonly mappingId: number;
  readonly reason: string;
}

/** A setting or mapping the agent would not apply, in words for the console. */
export interface Refusal {
  /** What was refused: a setting name, or `mapping <id> (<client>)`. */
  readonly subject: string;
  readonly reason: string;
}

/** What the agent sees of the gateway it enforces on (read in its network namespace). */
export interface HostFacts extends PortFacts {
  readonly interfaces: ReadonlySet<string>;
  /**
   * The IPv4 addresses on the gateway's interfaces (the HA virtual address too, while this node
   * holds it), and as prefixes the ranges it takes as its own (local routes: AnyIP).
   */
  readonly localAddresses: ReadonlySet<string>;
  /** The interfaces an IPv4 default route leaves by: the uplink, never the LAN. */
  readonly defaultRouteInterfaces: ReadonlySet<string>;
  /** The prefixes interfaces reach directly: the LAN's must be lanInterface's. */
  readonly linkRoutes: readonly LinkRoute[];
  /** The guard file (PGW_GUARD_FILE) and the LAN interface it names (PGW_LAN_IF; null: none usable). */
  readonly guard: { readonly file: string; readonly lanInterface: string | null };
  /** net.ipv4.conf.all.route_localnet is 1 (localnetRefusal). */
  readonly routeLocalnetAll: boolean;
}

/** The settings cannot be enforced on this gateway: nothing of this desired state is applied. */
export class SettingsRefused extends Error {
  constructor(readonly refusals: readonly Refusal[]) {
    super(`settings refused: ${refusals.map((r) => r.reason).join('; ')}`);
  }
}

export interface PolicyBuild {
  readonly policy: GatewayPolicy;
  /** Mappings left out of the ruleset (their client gets nothing), with the reason. */
  readonly rejected: readonly RejectedMapping[];
  /**
   * Mappings blocked because their port was refused (port_refused), and, with strict OUTPUT, the
   * proxies (or some of their addresses) that open no upstream, with the reason.
   */
  readonly refusals: readonly Refusal[];
  /** The guard does not cover the LAN in force (guardRefusal): listed and said in the status while the build applies. */
  readonly guardRefused?: Refusal;
  /** all.route_localnet is 1 (localnetRefusal): listed and said as the guard's is, the build applied all the same. */
  readonly localnetRefused?: Refusal;
  /**
   * When a client's upstream changes by time alone (a recovered proxy's hold-down ends, issue 17),
   * ms on this process's clock; null or absent: only new input changes it. This build is stale from then on.
   */
  readonly recheckAt?: number | null;
  /**
   * The settings of the desired state, refused on this host or by the schema (DesiredSource,
   * repositories/desired-state.ts): this build holds the rest of the desired state under the
   * settings last accepted. Absent when the settings applied.
   */
  readonly settingsRefused?: readonly Refusal[];
  /**
   * The desired state could not be read (Postgres away), with why (DesiredSource): this build is of
   * the rows last read, with the host read now and the agent's own overlays (quota blocks, held
   * listeners) applied on top, so that what the agent decides alone is enforced during an outage.
   */
  readonly loadFailed?: string;
}

/** What the agent's own configuration adds to the policy: strict OUTPUT's senders and proxy networks, the HA peer. */
export interface AgentPolicyInput {
  /** The forwarder's and health's uids. */
  readonly uids: readonly number[];
  /** PGW_PROXY_ALLOW_CIDRS, as the api, the forwarder and health have it. */
  readonly proxyAllowNetworks: readonly string[];
  /** PGW_HA_PEER_IP on PGW_HA_VRRP_IF; absent: not part of an HA pair. */
  readonly vrrpPeer?: VrrpPeer;
  /** PGW_FLOWS_PER_CLIENT; absent: no cap. */
  readonly flowsPerClient?: number;
  /** PGW_UDP_NEW_PER_CLIENT; absent: no limit. */
  readonly udpNewPerSecond?: number;
  /** PGW_TCP_NEW_PER_CLIENT; absent: no limit. */
  readonly tcpNewPerSecond?: number;
}

/** The settings the agent checks against the host (DesiredSource decides what a refusal stops). */
export function settingsRefusals(settings: DesiredState['settings'], host: HostFacts): Refusal[] {
  const refusals: Refusal[] = [];
  for (const setting of ['lanInterface', 'wanInterface'] as const) {
    const reason = interfaceRefusal(setting, settings[setting], host.interfaces);
    if (reason) refusals.push({ subject: setting, reason });
  }
  // LAN and WAN swapped: the LAN's drops and its sysctl backstop would cut the uplink off (the
  // console, ssh and every proxy with it).
  if (host.defaultRouteInterfaces.has(settings.lanInterface)) {
    refusals.push({ subject: 'lanInterface', reason: `lanInterface "${settings.lanInterface}" holds the gateway's default route: it is the uplink, not the LAN` });
  }
  // Rows stored before the api refused such networks.
  const lanProblem = lanNetworkProblem(settings.lanCidr);
  if (lanProblem) refusals.push({ subject: 'lanCidr', reason: lanProblem });
  else if (!refusals.some((r) => r.subject === 'lanInterface')) {
    const elsewhere = lanRouteRefusal(settings.lanInterface, settings.lanCidr, host.linkRoutes);
    if (elsewhere) refusals.push({ subject: 'lanInterface', reason: elsewhere });
  }
  const window = windowRefusal({ min: settings.forwarderPortMin, max: settings.forwarderPortMax }, host);
  if (window) refusals.push({ subject: 'forwarderPortMin', reason: window });
  return refusals;
}

/**
 * Why the guard does not cover `settings`' LAN, or null. The guard's drops (flows 4, 8, 12) and the
 * sysctl backstop its loader sets hold with no pgw process and no table inet pgw (boot, another
 * tool deleting it), on the interface its file names: a LAN it does not name has none of them.
 * Reported, never blocking: refusing the settings would leave that LAN without table inet pgw
 * either (a first start has nothing else to build under), which is worse.
 */
export function guardRefusal(settings: DesiredState['settings'], host: HostFacts): Refusal | null {
  if (host.guard.lanInterface === settings.lanInterface) return null;
  const what = host.guard.lanInterface === null ? `is not covered by the guard: PGW_LAN_IF in ${host.guard.file} names no usable interface` : `is not the guard's LAN interface "${host.guard.lanInterface}" (PGW_LAN_IF in ${host.guard.file})`;
  return { subject: 'lanInterface', reason: `lanInterface "${settings.lanInterface}" ${what}: edit that file, then load it again (guard/load-guard.sh, or systemctl reload pgw-guard)` };
}

/**
 * The interfaces that carry the LAN in lanInterface's place (lanCarriers; refused by
 * settingsRefusals, built under meanwhile): the ruleset drops forwarding through them too. Names the
 * kernel listed that are no interface name nft takes are left out.
 */
function carriersOf(settings: DesiredState['settings'], host: HostFacts): Pick<GatewayPolicy['lan'], 'carriers'> {
  const carriers = lanCarriers(settings.lanInterface, settings.lanCidr, host.linkRoutes).flatMap((name) => {
    const parsed = interfaceNameSchema.safeParse(name);
    return parsed.success ? [parsed.data] : [];
  });
  return carriers.length > 0 ? { carriers } : {};
}

/**
 * The kernel ORs `all`'s route_localnet with each interface's: at 1 the LAN is open to 127.0.0.0/8
 * whatever pgw writes on it (TPROXY mode, which keeps it 0; the agent stopped, ExecStopPost writing
 * 0). The policy routing blackhole and the rulesets still refuse those packets, but a layer
 * docs/SECURITY.md counts on is gone: said, while everything applies. pgw does not write `all`
 * (another tool set it, kube-proxy for one, and Compose mounts /proc/sys read-only).
 */
export function localnetRefusal(host: HostFacts): Refusal | null {
  if (!host.routeLocalnetAll) return null;
  return { subject: 'route_localnet', reason: 'net.ipv4.conf.all.route_localnet is 1: the kernel ORs it with every interface\'s, so the LAN accepts packets to 127.0.0.0/8 even where pgw switches it off (TPROXY mode, the agent stopped); set it to 0 (sysctl -w net.ipv4.conf.all.route_localnet=0, and in the /etc/sysctl.d file that sets it)' };
}

/**
 * The part of a build that depends only on the mapping rows, the settings and the host: each kept
 * mapping with its port refusal, in client IP order, and what was left out. A proxy-status change
 * reuses it (buildGatewayPolicy's `prepared`), so a notice costs one pass over the clients instead
 * of a validation and a sort of thousands.
 */
export interface PreparedMappings {
  readonly kept: readonly PreparedClient[];
  readonly rejected: readonly RejectedMapping[];
  readonly refusals: readonly Refusal[];
}

interface PreparedClient {
  readonly mapping: DesiredState['mappings'][number];
  readonly portRefused: boolean;
  /**
   * The PolicyClient made for each block reason so far (memo): an unchanged client is the very
   * same object from build to build, which lets the reconciler's later steps compare by identity.
   */
  readonly made: Map<string, PolicyClient>;
}

/** Validation, de-duplication and port checks of the mapping rows; throws SettingsRefused like buildGatewayPolicy. */
export function prepareMappings(state: DesiredState, host: HostFacts): PreparedMappings {
  const refusedSettings = settingsRefusals(state.settings, host);
  if (refusedSettings.length > 0) throw new SettingsRefused(refusedSettings);
  return prepareMappingsUnder(state, host);
}

/** prepareMappings() for settings the caller has judged itself (settingsRefusals): a refusal of them is not this function's to raise. */
export function prepareMappingsUnder(state: DesiredState, host: HostFacts): PreparedMappings {
  const { settings } = state;
  const window = { min: settings.forwarderPortMin, max: settings.forwarderPortMax };
  const refusals: Refusal[] = [];
  const rejected: RejectedMapping[] = [...state.rejected];
  const seenIps = new Set<string>();
  const seenPorts = new Set<number>();
  // A range's addresses too: a lookup of the set missed them.
  const own = new GatewayAddresses(host.localAddresses);
  const kept: { client: PreparedClient; ipInt: number }[] = [];
  for (const mapping of [...state.mappings].sort((a, b) => a.id - b.id)) {
    if (!cidrContains(settings.lanCidr, mapping.clientIp)) {
      rejected.push({ mappingId: mapping.id, reason: `client ${mapping.clientIp} is outside the LAN ${settings.lanCidr}` });
      continue;
    }
    // Its packets would be the gateway's own: the kernel drops them arriving on the LAN, and a pin
    // or a shaping class would be written for an address that is no client.
    if (own.has(mapping.clientIp)) {
      rejected.push({ mappingId: mapping.id, reason: `client ${mapping.clientIp} is an address of this gateway` });
      continue;
    }
    // The database forbids these; if it ever holds them, the later row is left out rather than
    // letting two clients share a port or one client get two.
    if (seenIps.has(mapping.clientIp)) {
      rejected.push({ mappingId: mapping.id, reason: `client ${mapping.clientIp} is already mapped` });
      continue;
    }
    if (seenPorts.has(mapping.listenPort)) {
      rejected.push({ mappingId: mapping.id, reason: `port ${mapping.listenPort} is already used` });
      continue;
    }
    seenIps.add(mapping.clientIp);
    seenPorts.add(mapping.listenPort);
    const portRefused = portRefusal(mapping.listenPort, window, host);
    if (portRefused) refusals.push({ subject: `mapping ${mapping.id} (${mapping.clientIp})`, reason: portRefused });
    kept.push({ client: { mapping, portRefused: portRefused !== null, made: new Map() }, ipInt: ipv4ToInt(mapping.clientIp) });
  }
  kept.sort((a, b) => a.ipInt - b.ipInt);
  return { kept: kept.map((k) => k.client), rejected, refusals };
}

/**
 * Desired state -> the policy the ruleset enforces. Pure: hostnames were resolved by the caller
 * (`resolved`: host -> IPv4 addresses), the strict-output uids and the host's interfaces, port
 * range and listeners were looked up by it. Throws SettingsRefused when the settings cannot be
 * enforced on this host; a mapping whose port is refused is blocked (port_refused), never DNAT-ed.
 * `prepared`: prepareMappings() of these very mappings, settings and host, when the caller kept it.
 * `now`: the instant every client's upstream is chosen for (chooseUpstream's hold-down).
 */
export function buildGatewayPolicy(
  state: DesiredState,
  resolved: ReadonlyMap<string, readonly Ipv4[]>,
  input: AgentPolicyInput,
  host: HostFacts,
  prepared: PreparedMappings = prepareMappings(state, host),
  now: number = Date.now(),
): PolicyBuild {
  const { settings } = state;
  // The same choice as the forwarder's dials (one definition): a proxy row that is gone is unknown, fail closed.
  const choose = upstreamChooser(state.proxies, settings.backupHoldDownS, now);
  let recheckAt: number | null = null;
  const clients = prepared.kept.map(({ mapping, portRefused, made }) => {
    const choice = choose(mapping);
    if (choice.recheckAt !== null) recheckAt = Math.min(recheckAt ?? Infinity, choice.recheckAt);
    const blocked = portRefused ? 'port_refused' : choice.blocked;
    const onBackup = blocked === null && choice.onBackup;
    const key = `${blocked ?? ''}|${onBackup ? choice.proxyId : ''}`;
    let client = made.get(key);
    if (client === undefined) {
      client = {
        mappingId: mapping.id,
        proxyId: onBackup ? choice.proxyId : mapping.proxyId,
        ip: mapping.clientIp,
        port: mapping.listenPort,
        ...(mapping.macAddress ? { mac: mapping.macAddress } : {}),
        blocked,
        ...(mapping.shaping ? { shaping: mapping.shaping } : {}),
        ...(onBackup ? { onBackup: true as const } : {}),
      };
      made.set(key, client);
    }
    return client;
  });

  let strictOutput: GatewayPolicy['strictOutput'] = null;
  let upstreamRefusals: Refusal[] = [];
  if (settings.strictOutput) {
    const upstreams = strictUpstreams(state.proxies, resolved, new ProxyHostPolicy({ lanCidr: settings.lanCidr, allowedNetworks: input.proxyAllowNetworks }));
    upstreamRefusals = upstreams.refusals;
    strictOutput = { allowedUids: [...new Set(input.uids)].sort((a, b) => a - b), upstreams: upstreams.allowed };
  }
  const peerRefusals = input.vrrpPeer ? vrrpLinkRefusals(input.vrrpPeer, settings.lanInterface, host) : [];

  return {
    policy: {
      lan: { interface: settings.lanInterface, cidr: settings.lanCidr, ...carriersOf(settings, host) },
      wan: { interface: settings.wanInterface },
      dnsMode: settings.dnsMode,
      ...(settings.interceptMode === 'tproxy' ? { interceptMode: 'tproxy' as const } : {}),
      clients,
      ...(input.vrrpPeer ? { vrrpPeer: input.vrrpPeer } : {}),
      ...(input.flowsPerClient !== undefined ? { flowsPerClient: input.flowsPerClient } : {}),
      ...(input.udpNewPerSecond !== undefined ? { udpNewPerSecond: input.udpNewPerSecond } : {}),
      ...(input.tcpNewPerSecond !== undefined ? { tcpNewPerSecond: input.tcpNewPerSecond } : {}),
      strictOutput,
    },
    rejected: prepared.rejected,
    refusals: upstreamRefusals.length + peerRefusals.length === 0 ? prepared.refusals : [...prepared.refusals, ...upstreamRefusals, ...peerRefusals],
    recheckAt,
  };
}

/**
 * What is wrong with the HA peer's link, reported, its rules rendered all the same: every advert
 * from the peer is dropped, so both nodes claim the address until the operator fixes it. On the
 * LAN the adverts meet lan_input's drop first; on a name that is not here they match no rule.
 */
function vrrpLinkRefusals(peer: VrrpPeer, lanInterface: string, host: HostFacts): Refusal[] {
  const subject = 'PGW_HA_VRRP_IF';
  if (peer.interface === lanInterface) return [{ subject, reason: `${lanInterface} is the LAN interface: pgw drops VRRP from the LAN, the VRRP link must be another one` }];
  const refused = interfaceRefusal(subject, peer.interface, host.interfaces);
  return refused === null ? [] : [{ subject, reason: `${refused}: no advert from the HA peer is taken` }];
}

/**
 * Strict OUTPUT's proxy endpoints: each proxy's literal address, or the IPv4 addresses its name
 * resolved to, where the proxy check allows a proxy. The set lets the forwarder's and health's uids
 * open connections there, so an address the api would have refused as a literal (a name pointed
 * into the LAN) must not open a way to a LAN host.
 */
function strictUpstreams(
  proxies: DesiredState['proxies'],
  resolved: ReadonlyMap<string, readonly Ipv4[]>,
  hosts: ProxyHostPolicy,
): { allowed: PolicyUpstream[]; refusals: Refusal[] } {
  const allowed: PolicyUpstream[] = [];
  const refusals: Refusal[] = [];
  for (const proxy of proxies) {
    const subject = `proxy ${proxy.id} (${proxy.host})`;
    const literal = ipv4Schema.safeParse(proxy.host);
    const addresses = literal.success ? [literal.data] : (resolved.get(proxy.host) ?? []);
    if (addresses.length === 0) refusals.push({ subject, reason: `${proxy.host} resolves to no IPv4 address: strict OUTPUT lets nothing reach it` });
    const refused: string[] = [];
    for (const ip of addresses) {
      const problem = hosts.problem(ip);
      if (problem === null) allowed.push({ ip, port: proxy.port });
      else refused.push(literal.success ? problem.message : `${proxy.host} resolves to ${ip}: ${problem.message}`);
    }
    if (refused.length > 0) refusals.push({ subject, reason: `${refused.join('; ')}: not an upstream of strict OUTPUT` });
  }
  return { allowed, refusals };
}
