import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';
import type { ProxyEndpoint } from '@pgw/domain';
import { DialError } from './dial-error.js';
import { Socks5Dialer } from './socks5.js';
import { decodeUdpDatagram, encodeUdpDatagram, parseUdpAssociateReply, socks5UdpAssociateRequest, type UdpRelayAddress } from './socks5-udp-protocol.js';
import type { DialOptions, DialSignal, DialTarget } from './types.js';
import type { SendQueue, UdpSendBudget } from './udp-send-budget.js';

export interface UdpAssociationHandlers {
  /** A datagram from `from` (the remote host, as the relay names it). */
  onMessage(data: Buffer, from: UdpRelayAddress): void;
  /** The association ended: its control connection closed (the proxy's end of it too), or close() was called. */
  onClose(error: Error | null): void;
}

const dialer = new Socks5Dialer();

/** What Socks5UdpAssociation.send did with a datagram. */
export type UdpSendOutcome = 'sent' | 'oversize' | 'queue_full' | 'closed';

/** The largest UDP payload of one datagram: 65535 less the IPv4 (20) and UDP (8) headers; IPv6's header is not counted in its length. */
const MAX_UDP_PAYLOAD = { IPv4: 65_507, IPv6: 65_527 } as const;

/** What a connected UDP socket reports of an ICMP error about an earlier datagram. */
const TRANSIENT_ICMP = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN']);

/** Bytes an association lets wait for the kernel's send buffer before it drops (a few ms of a fast uplink). */
export const SEND_QUEUE_BYTES = 256 * 1024;

/** Why a relay address is refused, as a destination policy words it (`reason` its class, e.g. destination_private). */
export interface RelayRefusal {
  readonly reason: string;
  readonly message: string;
}

export interface UdpAssociationOptions extends DialOptions {
  /**
   * Judges a relay the proxy names at an address other than its own. Every client datagram is then
   * sent there from the gateway's address, so it must be a destination the client may reach: a
   * hostile proxy could otherwise steer client payloads at a host next to the gateway.
   */
  readonly checkRelay?: (address: string) => RelayRefusal | null;
  /** Bytes that may wait in the send queues of all associations sharing it (the forwarder's relay), beside each one's own SEND_QUEUE_BYTES. */
  readonly sendBudget?: UdpSendBudget;
}

/**
 * One SOCKS5 UDP association (RFC 1928 section 7, issue 15): a TCP control connection to the
 * proxy (greeting and auth as for a CONNECT, in the proxy's handshake mode), UDP ASSOCIATE, and a
 * UDP socket of ours that talks only to the relay address the proxy answered. The association
 * lives as long as the control connection: the proxy ends it by closing that connection, and
 * close() closes both. One association per client flow: datagrams of different clients never
 * share a relay port at the proxy.
 */
export class Socks5UdpAssociation implements SendQueue {
  private closed = false;

  private constructor(
    private readonly control: Socket,
    private readonly udp: UdpSocket,
    /** Where the proxy relays: its reply's address (the proxy's own for an unspecified one). */
    readonly relay: UdpRelayAddress,
    private readonly handlers: UdpAssociationHandlers,
    private readonly budget: UdpSendBudget | null,
  ) {
    udp.on('message', (message, rinfo) => {
      // Only the relay speaks for the association; anything else on our port is dropped.
      if (rinfo.address !== relay.address || rinfo.port !== relay.port) return;
      const datagram = decodeUdpDatagram(message);
      if (datagram !== null) handlers.onMessage(datagram.data, datagram.from);
    });
    // The socket is connected: an ICMP error from the relay's side (unreachable, a relay restarting)
    // comes back as a read error. Lost datagrams, as on an unconnected socket, not the association's end.
    udp.on('error', (error: NodeJS.ErrnoException) => {
      if (!TRANSIENT_ICMP.has(error.code ?? '')) this.end(error);
    });
    control.on('data', () => undefined); // nothing is expected; reading keeps its close observable
    control.on('error', (error) => this.end(error));
    control.on('close', () => this.end(null));
  }

  /**
   * Opens an association through `proxy` (a SOCKS5 proxy). Rejects with a DialError: among them
   * proxy_refused "command not supported" for a proxy without UDP. `options.timeoutMs` bounds the
   * whole opening, the relay address passes the same proxy-address check as the proxy's.
   */
  static async open(proxy: ProxyEndpoint, options: UdpAssociationOptions, handlers: UdpAssociationHandlers): Promise<Socks5UdpAssociation> {
    const started = Date.now();
    const control = await dialer.open(proxy, { ...options, allowHalfOpen: false });
    let udp: UdpSocket | null = null;
    try {
      const relay = await associate(control, proxy.host, Math.max(1, options.timeoutMs - (Date.now() - started)), options.signal);
      const refused = options.checkProxyAddress?.(relay.address) ?? (isProxyPeer(relay.address, control) ? null : (options.checkRelay?.(relay.address) ?? null));
      if (refused) throw new DialError('proxy_forbidden', `SOCKS5 UDP relay ${relay.address} named by the proxy: ${refused.message}`, { cause: refused });
      const socket = (udp = createSocket(relay.address.includes(':') ? 'udp6' : 'udp4'));
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        // The same local address as the control connection: the proxy accepts datagrams from it.
        // Connected to the relay: a send is handed to libuv at once (an unconnected one waits a
        // tick for a lookup of the address), so its queue size is true right after each send,
        // and the kernel drops datagrams from any other source.
        socket.bind({ address: control.localAddress, port: 0 }, () => {
          // dgram hands a connect error (no route, EACCES for a broadcast address) to this
          // callback, not to 'error'; taken for a success, the socket stayed unconnected and the
          // first send threw.
          socket.connect(relay.port, relay.address, (error?: Error) => {
            socket.removeListener('error', reject);
            if (error) reject(new DialError('connect_failed', `SOCKS5 UDP relay ${relay.address}:${relay.port} named by the proxy: ${error.message}`, { cause: error }));
            else resolve();
          });
        });
      });
      return new Socks5UdpAssociation(control, socket, relay, handlers, options.sendBudget ?? null);
    } catch (error) {
      control.destroy();
      // dgram does not close a socket whose bind failed (EINVAL: an IPv6 relay for an IPv4 control connection).
      udp?.close();
      throw error;
    }
  }

  /** Whether the relay is at the proxy's own address (judged as the proxy), not elsewhere (judged by `checkRelay`). */
  get relayIsProxy(): boolean {
    return isProxyPeer(this.relay.address, this.control);
  }

  /**
   * Sends `data` to `target` through the relay (the proxy resolves a hostname target); what became
   * of it: `sent` (handed to the kernel, or queued behind what it has not taken yet), `oversize`
   * (with the SOCKS5 header no longer one IP datagram: the kernel would refuse it, and an unsent
   * datagram without a callback is dropped without a word), `queue_full` (more than
   * SEND_QUEUE_BYTES wait already, or the associations sharing its budget hold all of theirs: the
   * path to the proxy is slower than the clients, and libuv's queues would otherwise grow without
   * limit, a copy of every datagram in the forwarder's memory).
   */
  send(target: DialTarget, data: Buffer): UdpSendOutcome {
    if (this.closed) return 'closed';
    const datagram = encodeUdpDatagram(target, data);
    if (datagram.length > MAX_UDP_PAYLOAD[this.udp.address().family === 'IPv6' ? 'IPv6' : 'IPv4']) return 'oversize';
    if (this.udp.getSendQueueSize() > SEND_QUEUE_BYTES) return 'queue_full';
    if (this.budget !== null && !this.budget.admits(datagram.length)) return 'queue_full';
    try {
      this.udp.send(datagram);
    } catch (error) {
      // dgram throws at once for a socket it cannot send on (closed under us): the association
      // ends, its flow with it, rather than the exception reaching whoever relayed the datagram.
      this.end(error as Error);
      return 'closed';
    }
    this.budget?.sent(this);
    return 'sent';
  }

  queuedBytes(): number {
    return this.closed ? 0 : this.udp.getSendQueueSize();
  }

  close(): void {
    this.end(null);
  }

  private end(error: Error | null): void {
    if (this.closed) return;
    this.closed = true;
    this.budget?.forget(this);
    this.control.destroy();
    this.udp.close();
    this.handlers.onClose(error);
  }
}

/** The relay at the control connection's peer: the proxy itself (an unspecified relay address was replaced by it). */
function isProxyPeer(address: string, control: Socket): boolean {
  const peer = control.remoteAddress;
  return peer !== undefined && (peer === address || peer === `::ffff:${address}`);
}

/**
 * UDP ASSOCIATE on an opened control connection: the relay address, or a DialError. The caller's
 * abort (its flow ended) ends the wait at once: a silent proxy otherwise held the connection and
 * the timer for the whole timeout.
 */
function associate(control: Socket, proxyHost: string, timeoutMs: number, signal: DialSignal | undefined): Promise<UdpRelayAddress> {
  return new Promise<UdpRelayAddress>((resolve, reject) => {
    let reply = Buffer.alloc(0);
    const onAbort = { handleEvent: () => done(new DialError('aborted', 'UDP ASSOCIATE aborted by the caller')) };
    const done = (error: Error | null, relay?: UdpRelayAddress) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      control.removeListener('data', onData);
      control.removeListener('close', onClose);
      control.removeListener('error', onError);
      if (error) reject(error);
      else resolve(relay!);
    };
    const onData = (chunk: Buffer) => {
      reply = Buffer.concat([reply, chunk]);
      try {
        // The proxy's own address stands for an unspecified relay address (the control connection's peer).
        const relay = parseUdpAssociateReply(reply, control.remoteAddress ?? proxyHost);
        if (relay !== null) done(null, relay);
      } catch (error) {
        done(error as Error);
      }
    };
    const onClose = () => done(new DialError('closed', 'SOCKS5 proxy closed the connection before answering UDP ASSOCIATE'));
    const onError = (error: Error) => done(error);
    const timer = setTimeout(() => done(new DialError('connect_timeout', `SOCKS5 UDP ASSOCIATE unanswered after ${timeoutMs} ms`)), timeoutMs);
    if (signal?.aborted) return done(new DialError('aborted', 'UDP ASSOCIATE aborted by the caller'));
    signal?.addEventListener('abort', onAbort);
    control.on('data', onData);
    control.once('close', onClose);
    control.once('error', onError);
    control.resume();
    control.write(socks5UdpAssociateRequest());
  });
}
