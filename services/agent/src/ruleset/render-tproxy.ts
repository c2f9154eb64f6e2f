import { TPROXY_MARK } from '../lan/policy-routing-tproxy.js';
import { nftMark, nftRate } from './nft-values.js';
import { TPROXY_UDP_PORT } from '../listeners/udp-reply-check.js';

/** A chain of table inet pgw as render-ruleset.ts writes it. */
export interface RenderedChain {
  readonly name: string;
  /** Base chain header (`type ... hook ...`), absent for regular chains reached by jump. */
  readonly hook?: string;
  readonly rules: readonly string[];
}

/**
 * Each client's bucket of unanswered UDP datagrams (flow 24): filled by the packet path, one entry
 * per client, so not among the sets the renderer writes and the read-back compares.
 */
export const UDP_NEW_SET = 'udp_new_rate';

/** TPROXY_MARK as nft writes it: on the packets and the conntrack entries of intercepted flows. */
export const TPROXY_NFT_MARK = nftMark(TPROXY_MARK);
const mark = TPROXY_NFT_MARK;

/**
 * The parts of table inet pgw that differ in TPROXY mode (issue 15; flows in docs/SECURITY.md).
 * The LAN's packets are judged first by chain from_lan at -150 exactly as in DNAT mode (blocked,
 * unmapped, pinned, non-TCP): only an effective client's TCP reaches lan_tproxy.
 *
 * - lan_tproxy (prerouting, -140): the packet is assigned to the transparent listening socket on
 *   127.0.0.1:<the client's port> (the agent's, see listener-registry.ts), keeps its destination,
 *   and gets TPROXY_MARK (policy-routing-tproxy.ts delivers it locally) and the same bit in its
 *   conntrack mark (strict OUTPUT recognises the flow's replies by it). A packet the tproxy
 *   statement cannot place (no socket on the port) is not marked and is reset right after: it
 *   never reaches the routing decision unmarked.
 * - lan_input: only marked packets, i.e. those our tproxy rule placed on the client's own port.
 * - strict OUTPUT: the forwarder's side of such a flow is any reply of a flow with the conntrack
 *   mark: its original direction came in from the LAN through lan_tproxy, so only the socket that
 *   accepted it holds the tuple (replaces the DNAT-tuple rule and the reset rule of DNAT mode).
 *
 * UDP (issue 15, docs/ARCHITECTURE.md "UDP in TPROXY mode"): from_lan lets an effective client's
 * UDP on (UDP/53 only with dnsMode proxy), and lan_tproxy places every such datagram on the one
 * transparent UDP socket 127.0.0.1:TPROXY_UDP_PORT (the agent's, read by the forwarder), marked
 * like TCP; the forwarder relays it through the client's proxy (SOCKS5 UDP ASSOCIATE) or drops it.
 * lan_input lets it in by the mark alone: tproxy keeps the datagram's destination port, and a
 * flow's later datagrams land on its reply socket (connected, found first by tproxy's lookup).
 * Its answers leave through the reply sockets (the flow's conntrack mark, as above); the relay's
 * datagrams to the proxy only from the strict uids to a proxy's address (`upstreamIps`: the relay
 * port is the proxy's choice, so the address is all a rule can know).
 *
 * Flow 24: a datagram for which no reply socket exists yet (a flow's first, one to a destination
 * the forwarder refuses, which never gets one) lands on that one socket. `udpNewPerSecond` limits
 * each client's such datagrams (conntrack state new, not answered yet) before tproxy places them
 * (burst: one second's worth); those a flow's reply socket takes are passed before the limit, as
 * tproxy's own lookup would place them there. One client's flood at a
 * destination that never answers filled the socket's queue, and every other client's new flows
 * and DNS queries were dropped with it (tproxy-udp e2e).
 */
export function tproxyChains(lan: string, upstreamIps: readonly string[], udpNewPerSecond?: number): { intercept: RenderedChain[]; lanInput: string[]; strictReplies: string[]; strictUdp: string[]; lanProtocols: string; sets: string[] } {
  const rate = udpNewPerSecond === undefined ? null : nftRate(udpNewPerSecond, 'datagrams');
  return {
    intercept: [
      {
        name: 'lan_tproxy',
        hook: 'type filter hook prerouting priority -140; policy accept;',
        rules: [
          `iifname ${lan} meta l4proto tcp tproxy ip to 127.0.0.1 : ip saddr map @client_port meta mark set meta mark | ${mark} ct mark set ct mark | ${mark} accept`,
          ...(rate === null
            ? []
            : [
                // A flow's own datagrams, for its reply socket (connected, transparent: found by the
                // packet's addresses), are delivered by the mark as tproxy would place them, and
                // not limited: only the shared socket is.
                `iifname ${lan} meta l4proto udp socket transparent 1 meta mark set meta mark | ${mark} ct mark set ct mark | ${mark} accept`,
                `iifname ${lan} meta l4proto udp ct state new add @${UDP_NEW_SET} { ip saddr limit rate over ${rate}/second burst ${rate} packets } counter drop`,
              ]),
          `iifname ${lan} meta l4proto udp tproxy ip to 127.0.0.1 : ${TPROXY_UDP_PORT} meta mark set meta mark | ${mark} ct mark set ct mark | ${mark} accept`,
          `iifname ${lan} meta l4proto tcp reject with tcp reset`,
          `iifname ${lan} drop`,
        ],
      },
    ],
    lanInput: [
      `meta mark & ${mark} == ${mark} meta l4proto tcp ip saddr @lan_mapped accept`,
      `meta mark & ${mark} == ${mark} meta l4proto udp ip saddr @lan_mapped accept`,
      'meta l4proto tcp reject with tcp reset',
      'drop',
    ],
    strictReplies: [`oifname ${lan} ct direction reply ct mark & ${mark} == ${mark} accept`],
    // An empty anonymous set is not valid nft: no proxy, no rule (nothing to relay to).
    strictUdp: upstreamIps.length === 0 ? [] : [`meta l4proto udp ip daddr { ${[...new Set(upstreamIps)].sort().join(', ')} } meta skuid @strict_uids accept`],
    lanProtocols: 'meta l4proto != { tcp, udp } drop',
    sets: rate === null ? [] : [`\tset ${UDP_NEW_SET} { type ipv4_addr; size 65535; flags dynamic; }`],
  };
}
