// A dial's handshake as data, for a dial run outside Node's streams (the forwarder's native dial,
// packages/original-dst/native/upstream_dial.cc): the same exchanges runHandshake would run, each
// with the shape of its success answer, which is all the native side accepts. Any other outcome
// comes back here and is worded as runHandshake words it (handshake.ts), with the protocol's own
// parser judging the bytes received, so errors, reasons and steps are the same either way.
import { constants } from 'node:os';
import type { ProxyEndpoint, ProxyProtocol } from '@pgw/domain';
import { DialError, type DialFailureReason, type DialStep } from './dial-error.js';
import { ANSWER_NAME, type Exchange, withContext } from './handshake.js';
import { SOCKS5_METHOD_NONE, SOCKS5_METHOD_USERPASS } from './socks5-protocol.js';
import type { DialTarget } from './types.js';

/** Answer shapes: two fixed bytes (-1: any), a SOCKS5 success reply, an HTTP/1.x 2xx head. */
export const ANSWER_FIXED = 0;
export const ANSWER_SOCKS5_REPLY = 1;
export const ANSWER_HTTP_HEAD = 2;

export interface PlannedStage {
  readonly request: Buffer | null;
  readonly kind: typeof ANSWER_FIXED | typeof ANSWER_SOCKS5_REPLY | typeof ANSWER_HTTP_HEAD;
  readonly expect0: number;
  readonly expect1: number;
}

export interface HandshakePlan {
  readonly protocolName: string;
  readonly exchanges: readonly Exchange[];
  /** One per exchange, in order. */
  readonly stages: readonly PlannedStage[];
}

/** How a dial run elsewhere ended without a tunnel (see original-dst's NativeDialFailure). */
export interface PlannedDialFailure {
  readonly what: 'connect' | 'io' | 'closed' | 'timeout' | 'answer';
  readonly errno: number;
  /** The exchange that was waiting for its answer. */
  readonly stage: number;
  /** That exchange's answer so far. */
  readonly bytes: Buffer;
  /** The TCP connection to the proxy was not up yet. */
  readonly connecting: boolean;
}

export function planOf(protocol: ProxyProtocol, proxy: ProxyEndpoint, protocolName: string, exchanges: readonly Exchange[]): HandshakePlan {
  return { protocolName, exchanges, stages: exchanges.map((exchange) => stageOf(protocol, proxy, exchange)) };
}

function stageOf(protocol: ProxyProtocol, proxy: ProxyEndpoint, exchange: Exchange): PlannedStage {
  const request = exchange.request;
  switch (exchange.step) {
    case 'greeting':
      // The one method offered (socks5.ts): none without credentials, username/password with.
      return { request, kind: ANSWER_FIXED, expect0: 0x05, expect1: proxy.username === undefined ? SOCKS5_METHOD_NONE : SOCKS5_METHOD_USERPASS };
    case 'auth':
      // Only the status is judged, as parseAuthStatus does (some servers echo version 5).
      return { request, kind: ANSWER_FIXED, expect0: -1, expect1: 0x00 };
    case 'reply':
      return { request, kind: protocol === 'socks5' ? ANSWER_SOCKS5_REPLY : ANSWER_HTTP_HEAD, expect0: -1, expect1: -1 };
    default:
      throw new Error(`no native answer shape for a ${exchange.step} exchange`);
  }
}

const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);

/** The DialError runHandshake would have rejected with for the same outcome (handshake.ts); target null: a warm connection's open. */
export function planFailure(plan: HandshakePlan, failure: PlannedDialFailure, proxy: ProxyEndpoint, target: DialTarget | null, timeoutMs: number): DialError {
  return withContext(wordFailure(plan, failure, timeoutMs), proxy, target);
}

/** A dial the caller aborted (runHandshake's wording for an abort while the first exchange ran). */
export function planAborted(plan: HandshakePlan, proxy: ProxyEndpoint, target: DialTarget | null): DialError {
  const step = plan.exchanges[0]?.step ?? 'connect';
  return withContext(new DialError('aborted', `${stepName(plan, step)}: dial aborted by the caller`, { step }), proxy, target);
}

function wordFailure(plan: HandshakePlan, failure: PlannedDialFailure, timeoutMs: number): DialError {
  const exchanges = plan.exchanges;
  const step: DialStep = failure.connecting ? 'connect' : (exchanges[failure.stage]?.step ?? 'connect');
  const stepError = (reason: DialFailureReason, message: string, at: DialStep = step, answered = false): DialError => new DialError(reason, `${stepName(plan, at)}: ${message}`, { step: at, answered });
  const answered = failure.bytes.length > 0 || failure.stage > 0;
  const code = ERRNO_NAMES.get(failure.errno) ?? `errno ${failure.errno}`;
  const pipelinedUnanswered = exchanges.length > 1 && exchanges[1]!.request === null && failure.stage === 1 && failure.bytes.length === 0;
  const pipeliningError = (why: string): DialError => {
    const next = exchanges[1]!.step;
    return stepError(
      'pipelining_unanswered',
      `no answer to the pipelined ${next === 'auth' ? 'auth' : 'CONNECT'} after the method selection (${why}): ` +
        'the proxy does not accept pipelining; set the handshake to auto or sequential',
      next,
    );
  };
  switch (failure.what) {
    case 'connect': {
      const cause = Object.assign(new Error(`connect ${code}`), { code, errno: -failure.errno, syscall: 'connect' });
      if (code === 'ECONNREFUSED') return new DialError('connect_refused', 'connect: proxy refused the TCP connection (ECONNREFUSED)', { cause, step: 'connect' });
      return new DialError(code === 'ETIMEDOUT' ? 'connect_timeout' : 'connect_failed', `connect: cannot connect to the proxy (${code})`, { cause, step: 'connect' });
    }
    case 'io':
      if (pipelinedUnanswered) return pipeliningError(`the connection failed: ${code}`);
      return stepError('closed', `connection to the proxy failed during the ${plan.protocolName} handshake (${code})`, step, answered);
    case 'closed': {
      if (pipelinedUnanswered) return pipeliningError('the proxy closed the connection');
      const where =
        failure.bytes.length > 0
          ? `in the middle of its ${ANSWER_NAME[step]}`
          : failure.stage === 0
            ? `before answering the ${exchanges[0]?.step === 'greeting' ? 'greeting' : 'CONNECT'}`
            : `after the ${ANSWER_NAME[exchanges[failure.stage - 1]!.step]}`;
      return stepError('closed', `proxy closed the connection ${where}`, step, answered);
    }
    case 'timeout':
      return failure.connecting
        ? stepError('connect_timeout', `no TCP connection to the proxy within ${timeoutMs} ms`, 'connect')
        : stepError('connect_timeout', `proxy did not complete the ${plan.protocolName} handshake within ${timeoutMs} ms`);
    case 'answer': {
      const exchange = exchanges[failure.stage]!;
      try {
        exchange.parse(failure.bytes);
      } catch (error) {
        const refused = error instanceof DialError ? error : new DialError('protocol_error', String(error));
        return stepError(refused.reason, refused.message, refused.step ?? exchange.step);
      }
      // The native side refused an answer the parser accepts: a bug there, named as such.
      return stepError('protocol_error', `the native dial refused an answer the ${plan.protocolName} parser accepts`);
    }
  }
}

function stepName(plan: HandshakePlan, step: DialStep): string {
  return step === 'connect' ? 'connect' : `${plan.protocolName} ${step}`;
}
