import { nftMark } from '../ruleset/nft-values.js';

/**
 * The mark (SO_MARK) the agent puts on every socket it makes for the forwarder: the transparent UDP
 * sockets (the tproxy socket, each reply socket: udp-socket-server.ts) and the mapped ports'
 * listening sockets (listener-server.ts), whose accepted connections inherit it (whatever
 * net.ipv4.tcp_fwmark_accept says: the SYN's mark is taken only for an unmarked listener). The
 * forwarder holds them without any capability, so it can neither change the mark nor send without
 * it; and each can send as a remote host
 * (IP_TRANSPARENT): a reply socket to whatever peer sendto() or a new connect() names, an accepted
 * TPROXY connection after connect(AF_UNSPEC) and a new connect() from the client's destination's
 * address. table inet pgw (chain agent_sockets) and the guard (guard/pgw-guard.nft, the same value
 * written out) let a marked packet leave only as a reply of an intercepted flow or to a local peer.
 * A bit of its own: TPROXY_MARK is 0x02000000 and LOCAL_MARK 0x01000000, and the routing rules
 * match each with its mask (and only from the LAN), so this one selects none.
 */
export const AGENT_SOCKET_MARK = 0x0400_0000;

/** AGENT_SOCKET_MARK as nft writes it. */
export const AGENT_SOCKET_NFT_MARK = nftMark(AGENT_SOCKET_MARK);
