/**
 * Pure: the commands that put bench:rtt's delay line on the gateway's WAN path, inside the lab's
 * WAN namespace (where the proxies and the internet host live), so neither the gateway's
 * namespace nor pgw's rules change. Packets arriving from the gateway on `wanIface` are routed
 * into tunA; the delay line writes them into tunB, whence they are delivered locally. Local
 * answers to the gateway and the LAN are routed into tunB; the delay line writes them into tunA,
 * whence they are forwarded out of `wanIface`. The local-table rule moves behind these rules (else
 * local addresses would be delivered before any policy rule is asked).
 */
export const TUN_A = 'pgwdlyA';
export const TUN_B = 'pgwdlyB';

export interface DelayPlanInput {
  /** The WAN namespace's interface towards the gateway. */
  readonly wanIface: string;
  /** Where answers are delayed to: the gateway's WAN address and the LAN (direct routing). */
  readonly delayedDestinations: readonly string[];
}

export interface DelayPlan {
  /** `ip -batch` lines, in order. */
  readonly ipBatch: string[];
  /** `sysctl -w` arguments. */
  readonly sysctls: string[];
}

export function planDelayLine(input: DelayPlanInput): DelayPlan {
  const ipBatch = [
    `tuntap add dev ${TUN_A} mode tun`,
    `tuntap add dev ${TUN_B} mode tun`,
    `link set ${TUN_A} up`,
    `link set ${TUN_B} up`,
    `route add default dev ${TUN_A} table 100`,
    `route add default dev ${TUN_B} table 101`,
    `rule add pref 10 iif ${input.wanIface} lookup 100`,
    // "iif lo": packets this namespace sends itself (the proxies' and the internet host's answers).
    ...input.delayedDestinations.map((to, i) => `rule add pref ${11 + i} iif lo to ${to} lookup 101`),
    'rule add pref 100 lookup local',
    'rule del pref 0 lookup local',
  ];
  const sysctls = [
    'net.ipv4.ip_forward=1',
    'net.ipv4.conf.all.rp_filter=0',
    'net.ipv4.conf.default.rp_filter=0',
    `net.ipv4.conf.${TUN_A}.rp_filter=0`,
    `net.ipv4.conf.${TUN_B}.rp_filter=0`,
    // Answers re-enter on tunA with a source address of this namespace.
    `net.ipv4.conf.${TUN_A}.accept_local=1`,
    // Early demux would hand a packet from the gateway to the local socket before routing, and
    // the forward into tunA would then drop it (ip_forward refuses a packet that has a socket).
    'net.ipv4.ip_early_demux=0',
    'net.ipv4.tcp_early_demux=0',
    // The gateway's ARP for the proxies: their route now points into tunA, not back out of wanIface.
    `net.ipv4.conf.${input.wanIface}.proxy_arp=1`,
    // ... answered at once (proxy ARP replies wait up to 0.8 s by default).
    `net.ipv4.neigh.${input.wanIface}.proxy_delay=0`,
  ];
  return { ipBatch, sysctls };
}
