/**
 * The mark (SO_MARK) the agent puts on every transparent UDP socket it makes: the tproxy socket and
 * each reply socket (udp-socket-server.ts). Their holder, the forwarder, has no capability, so it can
 * neither change the mark nor send without it; and such a socket sends as a remote host (IP_TRANSPARENT)
 * to whatever peer sendto() or a new connect() names. table inet pgw (chain transparent_udp) and the
 * guard (guard/pgw-guard.nft, the same value written out) let a marked datagram leave only as an answer
 * of an intercepted flow, on the LAN interface. A bit of its own: TPROXY_MARK is 0x02000000 and
 * LOCAL_MARK 0x01000000, and the routing rules match each with its mask, so this one selects none.
 */
export const TRANSPARENT_UDP_MARK = 0x0400_0000;

/** TRANSPARENT_UDP_MARK as nft writes it. */
export const TRANSPARENT_UDP_NFT_MARK = `0x${TRANSPARENT_UDP_MARK.toString(16).padStart(8, '0')}`;
