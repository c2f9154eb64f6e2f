// SOCKS5 UDP ASSOCIATE (RFC 1928 section 7), pure: the request, the relay address in the reply,
// and the header every datagram to and from the proxy's UDP relay carries (issue 15).
import { isIP, SocketAddress } from 'node:net';
import { DialError } from './dial-error.js';
import { writeIpv4, writeIpv6 } from './ip-bytes.js';
import { parseConnectReply } from './socks5-protocol.js';
import type { DialTarget } from './types.js';
import { shownText } from './shown-text.js';

const VERSION = 0x05;
const CMD_UDP_ASSOCIATE = 0x03;
const ATYP_IPV4 = 0x01;
const ATYP_DOMAIN = 0x03;
/** A relay's name in an error: enough to recognise it. */
const RELAY_NAME_SHOWN = 100;
const ATYP_IPV6 = 0x04;
const MAPPED_IPV4 = '::ffff:';

/** Where the proxy relays the association's datagrams: its reply's BND.ADDR and BND.PORT. */
export interface UdpRelayAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * The UDP ASSOCIATE request. DST 0.0.0.0:0: the client's UDP source is not known in advance
 * (RFC 1928: "If the client is not in possesion of the information at the time of the UDP
 * ASSOCIATE, the client MUST use a port number and address of all zeros"); the proxy then takes
 * datagrams from the control connection's address.
 */
export function socks5UdpAssociateRequest(): Buffer {
  return Buffer.from([VERSION, CMD_UDP_ASSOCIATE, 0x00, ATYP_IPV4, 0, 0, 0, 0, 0, 0]);
}

/**
 * The relay address from a complete UDP ASSOCIATE reply (its length from parseConnectReply, which
 * throws on a refusal, e.g. "command not supported": the proxy has no UDP). An unspecified
 * BND.ADDR (0.0.0.0, ::, ::ffff:0.0.0.0) means "the address you reached me at": the proxy's own.
 * An IPv4-mapped one (::ffff:a.b.c.d, what a dual-stack server bound to :: names for an IPv4
 * client) is that IPv4 address (readAddress): our socket talks IPv4 like the control connection.
 * A host name is refused (protocol_error).
 */
export function parseUdpAssociateReply(reply: Buffer, proxyAddress: string): UdpRelayAddress | null {
  const length = parseConnectReply(reply);
  if (length === 0) return null;
  const { address, port, end } = readAddress(reply, 3);
  if (end !== length) throw new DialError('protocol_error', 'SOCKS5 UDP ASSOCIATE reply has a malformed address');
  if (port === 0) throw new DialError('protocol_error', 'SOCKS5 UDP ASSOCIATE reply names relay port 0');
  // Every send would resolve a name anew, past the proxy-address check (a name can point at
  // loopback, the LAN or a metadata address at any time): only an address is taken.
  if (reply[3] === ATYP_DOMAIN) throw new DialError('protocol_error', `SOCKS5 UDP ASSOCIATE reply names its relay by host name (${shownText(address, RELAY_NAME_SHOWN)}), not by address`);
  return { address: address === '0.0.0.0' || address === '::' ? proxyAddress : address, port };
}

/** RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA: one datagram for the relay to send to `target`. */
export function encodeUdpDatagram(target: DialTarget, data: Buffer): Buffer {
  const family = isIP(target.host);
  if (family === 0 && (target.host.length === 0 || target.host.length > 255)) {
    throw new DialError('invalid_request', 'SOCKS5 UDP target hostname must be 1-255 bytes');
  }
  const addressLength = family === 4 ? 4 : family === 6 ? 16 : 1 + target.host.length;
  const out = Buffer.allocUnsafe(4 + addressLength + 2 + data.length);
  out[0] = 0;
  out[1] = 0;
  out[2] = 0; // FRAG 0: whole datagrams only
  if (family === 4) {
    out[3] = ATYP_IPV4;
    writeIpv4(target.host, out, 4);
  } else if (family === 6) {
    out[3] = ATYP_IPV6;
    writeIpv6(target.host, out, 4);
  } else {
    out[3] = ATYP_DOMAIN;
    out[4] = target.host.length;
    out.write(target.host, 5, 'latin1');
  }
  out.writeUInt16BE(target.port, 4 + addressLength);
  data.copy(out, 4 + addressLength + 2);
  return out;
}

export interface UdpDatagram {
  /** The remote host the relay received it from. */
  readonly from: UdpRelayAddress;
  readonly data: Buffer;
}

/** A datagram from the relay; null for one to drop (fragments, which pgw never asks for, or garbage). */
export function decodeUdpDatagram(datagram: Buffer): UdpDatagram | null {
  if (datagram.length < 4 || datagram[0] !== 0 || datagram[1] !== 0 || datagram[2] !== 0) return null;
  try {
    const { address, port, end } = readAddress(datagram, 3);
    return { from: { address, port }, data: datagram.subarray(end) };
  } catch {
    return null;
  }
}

/** ATYP at `at`, then the address and port: their text and the offset after them. */
function readAddress(buffer: Buffer, at: number): { address: string; port: number; end: number } {
  const atyp = buffer[at];
  let address: string;
  let next: number;
  if (atyp === ATYP_IPV4) {
    next = at + 1 + 4;
    if (buffer.length < next + 2) throw new DialError('protocol_error', 'SOCKS5 address is truncated');
    address = `${buffer[at + 1]}.${buffer[at + 2]}.${buffer[at + 3]}.${buffer[at + 4]}`;
  } else if (atyp === ATYP_IPV6) {
    next = at + 1 + 16;
    if (buffer.length < next + 2) throw new DialError('protocol_error', 'SOCKS5 address is truncated');
    const words: string[] = [];
    for (let i = 0; i < 8; i++) words.push(buffer.readUInt16BE(at + 1 + i * 2).toString(16));
    // In the kernel's own spelling (inet_ntop: "2001:db8::1"), the one a datagram's rinfo.address
    // has, and an IPv4-mapped address as the IPv4 address it is (a dual-stack server bound to ::
    // names an IPv4 peer so): the relay's datagrams, and the answers' senders, are matched by it.
    const text = new SocketAddress({ address: words.join(':'), family: 'ipv6' }).address;
    address = text.startsWith(MAPPED_IPV4) && isIP(text.slice(MAPPED_IPV4.length)) === 4 ? text.slice(MAPPED_IPV4.length) : text;
  } else if (atyp === ATYP_DOMAIN) {
    const length = buffer[at + 1] ?? 0;
    next = at + 2 + length;
    if (length === 0 || buffer.length < next + 2) throw new DialError('protocol_error', 'SOCKS5 address is truncated');
    address = buffer.subarray(at + 2, next).toString('latin1');
  } else {
    throw new DialError('protocol_error', `SOCKS5 address type ${atyp} is unknown`);
  }
  return { address, port: buffer.readUInt16BE(next), end: next + 2 };
}
