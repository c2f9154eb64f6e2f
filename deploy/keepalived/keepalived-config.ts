/**
 * keepalived.conf of one node of a pgw HA pair (issue 18, docs/DEPLOYMENT.md "HA pair"), rendered
 * from settings (pure, no I/O). Both nodes run the full dataplane at all times; keepalived only
 * moves the LAN virtual IP (the clients' default gateway).
 *
 * Choices, and why:
 * - VRRP adverts go unicast to the peer over a link that is NOT the LAN (`vrrpInterface`, e.g. the
 *   WAN or a dedicated sync link): pgw's table inet pgw drops everything from the LAN but the
 *   DNAT-ed client flows (docs/SECURITY.md), VRRP included, and a LAN client must not be able to
 *   take the gateway address by announcing a higher priority.
 * - VRRPv3 with `advertIntervalS` below a second: master-down is 3 adverts + skew, so 0.5 s
 *   gives about 1.6 s, inside the 3 s goal. VRRPv3 has no authentication (RFC 5798 dropped v2's
 *   cleartext password, which protected nothing); the adverts are confined to the peer link.
 * - Both nodes start BACKUP, the higher priority preempts only after `preemptDelayS` (hold-down),
 *   so a flapping node does not take the address back and forth.
 * - The node gives the address up (FAULT) when its LAN or WAN link is down or its agent or
 *   forwarder fails its /readyz (track scripts), and announces priority 0 when it leaves MASTER, so
 *   the peer takes over at once instead of after master-down. A dedicated VRRP link going down
 *   faults neither node (see dont_track_primary below).
 */
import { isIP } from 'node:net';

export interface KeepalivedNode {
  /** Unique router id of this node, e.g. pgw-a. */
  routerId: string;
  /** 1..254; the higher one is master when both are healthy. */
  priority: number;
  /** This node's address on vrrpInterface (the source of its adverts). */
  vrrpSourceIp: string;
  /** The peer's address on vrrpInterface. */
  peerIp: string;
}

export interface KeepalivedSettings {
  node: KeepalivedNode;
  /** The clients' default gateway, e.g. 192.168.2.1. */
  virtualIp: string;
  /** Its prefix length on the LAN, e.g. 24. */
  virtualPrefix: number;
  lanInterface: string;
  /** The uplink the clients' traffic leaves by (through their proxies). */
  wanInterface: string;
  /** The link the adverts go over: the WAN, or a dedicated link between the two nodes. */
  vrrpInterface: string;
  /** 1..255, the same on both nodes and unique on the segment. */
  virtualRouterId: number;
  advertIntervalS: number;
  preemptDelayS: number;
  /** Metrics ports whose /readyz must answer 200: the agent's and the forwarder's (9101, 9102). */
  healthPorts: { agent: number; forwarder: number };
  /** Absolute paths of deploy/keepalived/pgw-ha-check.sh and pgw-ha-notify.sh as installed. */
  checkScript: string;
  notifyScript: string;
  /**
   * Where the notify hook writes the node's current state (replaced whole on each transition): the
   * node's agent reads it (PGW_HA_STATE_FILE) and reports it; keepalived itself gets no credentials.
   */
  stateFile: string;
  /** Where the notify hook appends its transitions (the local history). */
  eventsFile: string;
  /**
   * The FIFO keepalived writes its transitions to, in order, for the notify hook (keepalived makes
   * it; a directory only root may write, and a name no other keepalived on the host uses).
   */
  notifyFifo: string;
  /**
   * The user the check scripts run as (`ss` and `curl`: nothing of root's). keepalived drops a
   * check whose user does not exist and then ignores it in track_script (the node stays master
   * unchecked): `keepalived -t` fails on it, and render.ts refuses a user this host does not have.
   */
  checkUser: string;
}

const IFACE = /^[A-Za-z0-9_.-]{1,15}$/;
const ROUTER_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const PATH = /^\/[A-Za-z0-9_./-]+$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
/** keepalived's own name for the user of its scripts (its default script_user where it exists). */
export const DEFAULT_CHECK_USER = 'keepalived_script';

function check(ok: boolean, what: string, value: unknown): void {
  if (!ok) throw new Error(`keepalived settings: ${what}, got ${JSON.stringify(value)}`);
}

function validate(s: KeepalivedSettings): void {
  check(ROUTER_ID.test(s.node.routerId), 'node.routerId must be 1-64 of [A-Za-z0-9_.-]', s.node.routerId);
  check(Number.isInteger(s.node.priority) && s.node.priority >= 1 && s.node.priority <= 254, 'node.priority must be an integer in 1..254', s.node.priority);
  for (const [what, ip] of [['node.vrrpSourceIp', s.node.vrrpSourceIp], ['node.peerIp', s.node.peerIp], ['virtualIp', s.virtualIp]] as const) {
    check(isIP(ip) === 4, `${what} must be an IPv4 address`, ip);
  }
  check(s.node.vrrpSourceIp !== s.node.peerIp, 'node.peerIp must differ from node.vrrpSourceIp', s.node.peerIp);
  check(Number.isInteger(s.virtualPrefix) && s.virtualPrefix >= 1 && s.virtualPrefix <= 32, 'virtualPrefix must be an integer in 1..32', s.virtualPrefix);
  check(IFACE.test(s.lanInterface), 'lanInterface must be an interface name', s.lanInterface);
  check(IFACE.test(s.wanInterface), 'wanInterface must be an interface name', s.wanInterface);
  check(s.wanInterface !== s.lanInterface, 'wanInterface must not be the LAN interface', s.wanInterface);
  check(IFACE.test(s.vrrpInterface), 'vrrpInterface must be an interface name', s.vrrpInterface);
  check(s.vrrpInterface !== s.lanInterface, 'vrrpInterface must not be the LAN interface (pgw drops VRRP from the LAN, and LAN clients must not speak VRRP to it)', s.vrrpInterface);
  check(Number.isInteger(s.virtualRouterId) && s.virtualRouterId >= 1 && s.virtualRouterId <= 255, 'virtualRouterId must be an integer in 1..255', s.virtualRouterId);
  // VRRPv3 counts the interval in centiseconds, up to 40.95 s.
  check(Number.isFinite(s.advertIntervalS) && s.advertIntervalS >= 0.05 && s.advertIntervalS <= 40, 'advertIntervalS must be in 0.05..40', s.advertIntervalS);
  check(Number.isInteger(s.preemptDelayS) && s.preemptDelayS >= 0 && s.preemptDelayS <= 1000, 'preemptDelayS must be an integer in 0..1000', s.preemptDelayS);
  for (const [what, port] of Object.entries(s.healthPorts)) check(Number.isInteger(port) && port >= 1 && port <= 65535, `healthPorts.${what} must be a TCP port`, port);
  check(USER.test(s.checkUser), 'checkUser must be a user name', s.checkUser);
  check(s.checkUser !== 'root', 'checkUser must not be root (the checks need no privilege)', s.checkUser);
  for (const [what, path] of [['checkScript', s.checkScript], ['notifyScript', s.notifyScript], ['stateFile', s.stateFile], ['eventsFile', s.eventsFile], ['notifyFifo', s.notifyFifo]] as const) {
    check(PATH.test(path), `${what} must be an absolute path of [A-Za-z0-9_./-]`, path);
  }
}

/**
 * The user each checked service runs as (systemd/pgw-agent.service, pgw-forwarder.service): the
 * check script takes /readyz only from a listener of that user, not from whoever holds the port.
 */
const SERVICE_USERS = { agent: 'root', forwarder: 'pgw' } as const;

export function renderKeepalivedConf(s: KeepalivedSettings): string {
  validate(s);
  const dedicatedLink = s.vrrpInterface !== s.wanInterface;
  const track = Object.entries(s.healthPorts).map(([service, port]) => ({ name: `pgw_${service}`, port, user: SERVICE_USERS[service as keyof typeof SERVICE_USERS] }));
  return [
    `# keepalived.conf of ${s.node.routerId}, generated from pgw's HA settings (deploy/keepalived/keepalived-config.ts): do not edit`,
    'global_defs {',
    `  router_id ${s.node.routerId}`,
    '  vrrp_version 3',
    // The notify hook writes the agent's state file in root's /var/lib/pgw; the checks set their own
    // user below. Scripts run only because they are root-owned and not writable by others.
    '  script_user root',
    '  enable_script_security',
    // The new master's gratuitous ARPs: at once, again after 1 s (a switch or client that missed the first).
    '  vrrp_garp_master_delay 1',
    '  vrrp_garp_master_repeat 3',
    // After a split brain the master hears the other's lower-priority adverts: it announces itself
    // again, else clients whose ARP entry points at the former rival stay there (served by its
    // identical policy, but not by the master) as long as their connections keep the entry fresh.
    '  vrrp_garp_lower_prio_repeat 3',
    '  vrrp_garp_lower_prio_delay 0',
    // And every 30 s while master: a client that missed every announcement still comes back.
    '  vrrp_garp_master_refresh 30',
    // Transitions through a FIFO, read by one long-running hook: keepalived delivers them in order
    // there, while a `notify` script is forked per transition and not waited for (two at once could
    // write the state file in either order).
    `  vrrp_notify_fifo ${s.notifyFifo}`,
    `  vrrp_notify_fifo_script "${s.notifyScript} ${s.stateFile} ${s.eventsFile}"`,
    '}',
    ...track.flatMap((t) => [
      `vrrp_script ${t.name} {`,
      `  script "${s.checkScript} ${t.port} ${t.user}"`,
      `  user ${s.checkUser}`,
      '  interval 1',
      // A dead service refuses at once (fall 1: FAULT within the second); a slow /readyz on a busy
      // box gets 2 s (the script's curl) before it counts as down, so load alone does not flap the
      // pair, and a hung service is given up within interval + timeout (3 s).
      '  timeout 3',
      '  fall 1',
      '  rise 2',
      '}',
    ]),
    'vrrp_instance pgw_lan {',
    '  state BACKUP',
    `  interface ${s.vrrpInterface}`,
    `  virtual_router_id ${s.virtualRouterId}`,
    `  priority ${s.node.priority}`,
    `  advert_int ${s.advertIntervalS}`,
    `  preempt_delay ${s.preemptDelayS}`,
    // keepalived (2.2.7, and still upstream) restarts a master's advert timer on every VRRP packet it
    // reads, rejected ones included, unless this is set: a host on the link sending any VRRP packet
    // more often than advert_int silenced the master until the backup took the address too. With it
    // the master also stops answering a lower-priority advert with one of its own (RFC 5798
    // behaviour); its periodic adverts still end a rival's claim, and the gratuitous ARPs on a
    // lower-priority advert (vrrp_garp_lower_prio_repeat) are unaffected.
    '  lower_prio_no_advert',
    `  unicast_src_ip ${s.node.vrrpSourceIp}`,
    '  unicast_peer {',
    // Adverts are taken from the peer only, sent on the link itself (TTL 255, so not routed here):
    // min_ttl turns on keepalived's source check. VRRPv3 has no authentication, and without these
    // any host on the WAN could send a priority-255 advert and take the address from both nodes.
    `    ${s.node.peerIp} min_ttl 255`,
    '  }',
    '  virtual_ipaddress {',
    `    ${s.virtualIp}/${s.virtualPrefix} dev ${s.lanInterface}`,
    '  }',
    // keepalived tracks the VRRP interface itself: on the WAN that is the node's uplink. A dedicated
    // link between the nodes is not tracked: its loss (one cable, one NIC) takes the carrier from
    // both ends, and tracked it put both nodes in FAULT with no node holding the address; untracked,
    // each node claims it (the same policy on both) until the link is back. The WAN is then tracked
    // on its own, as the LAN always is: a node that cannot serve gives the address up.
    ...(dedicatedLink ? ['  dont_track_primary'] : []),
    '  track_interface {',
    `    ${s.lanInterface}`,
    ...(dedicatedLink ? [`    ${s.wanInterface}`] : []),
    '  }',
    '  track_script {',
    ...track.map((t) => `    ${t.name}`),
    '  }',
    '}',
    '',
  ].join('\n');
}
