/**
 * Why a dial failed, coarse enough for metrics and health status:
 * - connect_refused / connect_timeout / connect_failed: the proxy itself was not reachable
 *   (connect_timeout also covers a proxy that accepted but never finished the handshake);
 * - auth_failed: credentials missing or rejected; proxy_refused: the proxy denied the request;
 * - target_refused: the proxy works but its rules refuse this target (SOCKS5 reply 2, HTTP 403);
 * - target_unreachable: the proxy works but could not reach the target (SOCKS5 replies 3-6, HTTP 5xx);
 * - protocol_error: the proxy spoke something else; closed: it hung up mid-handshake;
 * - aborted: the caller's signal fired; invalid_request: bad target or credentials, nothing sent;
 * - proxy_forbidden: the proxy's address is one where no proxy may be (DialOptions.checkProxyAddress), nothing sent;
 * - pipelining_unanswered: a pipelined SOCKS5 handshake got the method selection, then nothing
 *   (closed, or silent for DialOptions.pipelineGraceMs): the proxy drops what follows the greeting.
 */
export type DialFailureReason =
  | 'connect_refused'
  | 'connect_timeout'
  | 'connect_failed'
  | 'auth_failed'
  | 'proxy_refused'
  | 'target_refused'
  | 'target_unreachable'
  | 'protocol_error'
  | 'closed'
  | 'aborted'
  | 'invalid_request'
  | 'proxy_forbidden'
  | 'pipelining_unanswered';

/**
 * Where a dial failed: `connect` (TCP to the proxy), `greeting` (SOCKS5 method selection),
 * `auth` (RFC 1929, or an HTTP 401/407), `reply` (the answer to CONNECT). Named in the message too.
 */
export type DialStep = 'connect' | 'greeting' | 'auth' | 'reply';

export class DialError extends Error {
  override readonly name = 'DialError';
  readonly reason: DialFailureReason;
  /** Unset for failures before any packet (bad input, a forbidden proxy address, an early abort). */
  readonly step: DialStep | undefined;
  /**
   * A `closed` failure after the proxy had sent some of its answers to this dial: it read the
   * request (and any early data with it), so a new dial would send them again. A warm connection
   * found stale fails before any answer.
   */
  readonly answered: boolean;

  constructor(reason: DialFailureReason, message: string, options?: ErrorOptions & { step?: DialStep | undefined; answered?: boolean }) {
    super(message, options);
    this.reason = reason;
    this.step = options?.step;
    this.answered = options?.answered ?? false;
  }
}
