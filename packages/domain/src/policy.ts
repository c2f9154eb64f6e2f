import type { ClientBlockReason } from './client-state.js';
import type { DnsMode, InterceptMode } from './settings.js';
import type { MacAddress } from './mac.js';
import type { InterfaceName, Ipv4, Ipv4Cidr, Port } from './net.js';
import type { ClientShaping } from './shaping.js';

export interface PolicyClient {
  /** The mapping that pins this client; not rendered, used to report and to detect a changed mapping. */
  readonly mappingId: number;
  /** The proxy the client's traffic goes through (chooseUpstream): its mapping's, or a backup. */
  readonly proxyId: number;
  readonly ip: Ipv4;
  /** The forwarder port on 127.0.0.1 that this client's TCP is DNAT-ed to. */
  readonly port: Port;
  /** Absent or null: not pinned. Otherwise the client's packets from any other source MAC are dropped before DNAT. */
  readonly mac?: MacAddress | null;
  /** null: effective. Otherwise the client gets nothing, for this reason. */
  readonly blocked: ClientBlockReason | null;
  /** Absent: unlimited. Otherwise its rates (tc) and byte quota (nft), docs/SECURITY.md flow 20. */
  readonly shaping?: ClientShaping;
  /** Present: the client is effective through a backup proxy (proxyId), not its mapping's own (issue 17). */
  readonly onBackup?: true;
}

export interface PolicyUpstream {
  readonly ip: Ipv4;
  readonly port: Port;
}

/** An HA pair's peer (issue 18): the one sender of VRRP this gateway takes, on the one link it uses. */
export interface VrrpPeer {
  /** The VRRP link (keepalived's `interface`): the WAN or a dedicated link, never the LAN. */
  readonly interface: InterfaceName;
  /** The peer's address on that link (keepalived's `unicast_peer`). */
  readonly ip: Ipv4;
}

/**
 * The highest per-client cap of tracked connections a policy may carry (flowsPerClient): the kernel
 * walks a client's list of them under a lock when it counts a new one.
 */
export const MAX_FLOWS_PER_CLIENT = 65_536;

/** The highest per-client rate of unanswered UDP datagrams a policy may carry (udpNewPerSecond). */
export const MAX_UDP_NEW_PER_SECOND = 100_000;

/** The highest per-client rate of new TCP connections a policy may carry (tcpNewPerSecond). */
export const MAX_TCP_NEW_PER_SECOND = 100_000;

/**
 * The only input of the ruleset renderer: everything the nftables table `inet pgw` enforces.
 * Built from typed, validated values only, so no database string can reach nft syntax.
 */
export interface GatewayPolicy {
  /**
   * `carriers`: the interfaces that hold the whole LAN prefix while `interface` holds none of it (a
   * bridge, bond or VLAN made over it after the settings were taken: the agent refuses them and
   * builds under them meanwhile); forwarding through them is dropped as through the LAN interface.
   */
  readonly lan: { readonly interface: InterfaceName; readonly cidr: Ipv4Cidr; readonly carriers?: readonly InterfaceName[] };
  readonly wan: { readonly interface: InterfaceName };
  readonly dnsMode: DnsMode;
  /** Absent: dnat (policies cached before issue 15). */
  readonly interceptMode?: InterceptMode;
  readonly clients: readonly PolicyClient[];
  /** Absent: not part of an HA pair, VRRP not judged. Otherwise VRRP is taken from this peer only (docs/SECURITY.md flow 22). */
  readonly vrrpPeer?: VrrpPeer;
  /**
   * The most connections (any protocol) each client may have tracked at once (docs/SECURITY.md flow
   * 23): a new one past it is refused. Absent: no cap (state files written before it existed).
   */
  readonly flowsPerClient?: number;
  /**
   * TPROXY mode: the most UDP datagrams per second (as many at once) each client may send in
   * flows no answer has come back for yet (docs/SECURITY.md flow 24). Those all land on the one
   * transparent socket every client's new flows share; past it they are dropped in the kernel.
   * Absent: no limit (state files written before it existed).
   */
  readonly udpNewPerSecond?: number;
  /**
   * The most new TCP connections per second (as many at once) each client may open (docs/
   * SECURITY.md flow 25): each is a dial through its proxy, so past it they are dropped in the
   * kernel before one client's flood takes the forwarder's time from every other client.
   * Absent: no limit (state files written before it existed).
   */
  readonly tcpNewPerSecond?: number;
  /** null: strict OUTPUT off. Otherwise only these uids may reach these endpoints on the WAN. */
  readonly strictOutput: null | {
    readonly allowedUids: readonly number[];
    readonly upstreams: readonly PolicyUpstream[];
  };
}
