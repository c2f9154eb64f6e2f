import type { Socket } from 'node:net';
import type { ProxyEndpoint, ProxyHandshake, ProxyProtocol } from '@pgw/domain';

/** Where the proxy should connect to: an IPv4/IPv6 literal or a hostname (resolved by the proxy). */
export interface DialTarget {
  readonly host: string;
  readonly port: number;
}

export interface DialOptions {
  /** Bound on the whole dial: TCP connect to the proxy plus its handshake. */
  readonly timeoutMs: number;
  readonly signal?: DialSignal;
  /** TCP keepalive on the returned socket; default true. */
  readonly keepAlive?: boolean;
  /**
   * Keep our writable side open after the proxy's FIN, so a relay can end each direction on its
   * own (Node's net.Socket option of that name); default true.
   */
  readonly allowHalfOpen?: boolean;
  /**
   * Refuses a proxy at an address where none may be (loopback, the LAN, ...): returns why, or
   * null. Asked for a literal host before any packet, and for every address a name resolves to
   * before connecting; a refusal rejects with DialError 'proxy_forbidden' whose cause is the
   * returned value.
   */
  readonly checkProxyAddress?: ProxyAddressCheck;
  /**
   * SOCKS5 only: greeting, auth and CONNECT in one write (`pipelined`, default: one round trip;
   * `early-data` is the same here, earlyData says what goes with it) or each after the previous
   * answer (`sequential`: works with servers that drop pipelined bytes).
   */
  readonly handshake?: ProxyHandshake;
  /**
   * SOCKS5 only: bytes for the target, written with the CONNECT before its reply (the health probe
   * learning whether the proxy relays them: handshake early-data). Not counted as relayed.
   */
  readonly earlyData?: Buffer;
  /**
   * SOCKS5 pipelined only: once the method selection has arrived, fail with
   * 'pipelining_unanswered' when nothing more arrives within this many ms (the health probe
   * learning the mode); unset: wait for timeoutMs like any handshake.
   */
  readonly pipelineGraceMs?: number;
}

/** What a dial uses of an abort signal: an AbortSignal, or a DialAbort (dial-abort.ts, cheaper per dial). */
export interface DialSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: EventListenerObject): void;
  removeEventListener(type: 'abort', listener: EventListenerObject): void;
}

export type ProxyAddressCheck = (address: string) => { readonly message: string } | null;

export interface Dialer {
  readonly protocol: ProxyProtocol;
  /**
   * Resolves with a socket connected through `proxy` to `target` (TCP_NODELAY set, keepalive and
   * allowHalfOpen unless disabled in the options, any bytes the proxy sent
   * after its reply put back for the first read), or rejects with a DialError.
   */
  dial(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions): Promise<Socket>;
  /**
   * A warm connection (warm-pool.ts): TCP to `proxy` and, for SOCKS5, the greeting and auth, so
   * that only the CONNECT is left (HTTP CONNECT: the TCP connection only). Same options, checks
   * and errors as dial(); the socket is the caller's, for one connectOn() at most.
   */
  open(proxy: ProxyEndpoint, options: DialOptions): Promise<Socket>;
  /**
   * The CONNECT to `target` on a socket from open(): resolves as dial() does. The socket is
   * consumed: destroyed on failure.
   */
  connectOn(socket: Socket, proxy: ProxyEndpoint, target: DialTarget, options: DialOptions): Promise<Socket>;
}
