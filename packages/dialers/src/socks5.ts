import type { ProxyEndpoint } from '@pgw/domain';
import { ProxyDialer } from './dialer-base.js';
import type { Exchange, ReplyParser } from './handshake.js';
import {
  parseAuthStatus,
  parseConnectReply,
  parseMethodSelection,
  SOCKS5_METHOD_NONE,
  SOCKS5_METHOD_USERPASS,
  socks5Auth,
  socks5Greeting,
  socks5Request,
} from './socks5-protocol.js';
import type { DialOptions, DialTarget } from './types.js';

/** Per proxy: the greeting and auth bytes and their exchanges, for both handshakes. */
interface Socks5Prepared {
  /** Pipelined: greeting and auth, sent with the CONNECT in one write. */
  readonly preamble: Buffer;
  readonly parseGreeting: ReplyParser;
  /** Sequential: greeting (and auth) each sent on its own. */
  readonly sequential: readonly Exchange[];
  /** Pipelined: the answers after the method selection, their requests already sent. */
  readonly pipelinedRest: readonly Exchange[];
}

const EMPTY = Buffer.alloc(0);
const PIPELINED_AUTH: Exchange = { step: 'auth', request: null, parse: parseAuthStatus };
const PIPELINED_REPLY: Exchange = { step: 'reply', request: null, parse: parseConnectReply };

/**
 * SOCKS5 dialer (see socks5-protocol.ts). Pipelined (default): greeting, auth and CONNECT in one
 * write, one round trip. Sequential: each message after the previous answer, for servers that
 * drop bytes pipelined after the greeting (DialOptions.handshake).
 */
export class Socks5Dialer extends ProxyDialer<Socks5Prepared> {
  readonly protocol = 'socks5' as const;
  protected readonly protocolName = 'SOCKS5';

  protected prepare(proxy: ProxyEndpoint): Socks5Prepared {
    const method = proxy.username === undefined ? SOCKS5_METHOD_NONE : SOCKS5_METHOD_USERPASS;
    const parseGreeting: ReplyParser = (reply) => parseMethodSelection(reply, method);
    const greeting = socks5Greeting(method);
    const auth = proxy.username === undefined ? null : socks5Auth(proxy.username, proxy.password);
    const sequential: Exchange[] = [{ step: 'greeting', request: greeting, parse: parseGreeting }];
    if (auth !== null) sequential.push({ step: 'auth', request: auth, parse: parseAuthStatus });
    return {
      preamble: auth === null ? greeting : Buffer.concat([greeting, auth]),
      parseGreeting,
      sequential,
      pipelinedRest: auth === null ? [PIPELINED_REPLY] : [PIPELINED_AUTH, PIPELINED_REPLY],
    };
  }

  protected exchanges(prepared: Socks5Prepared, target: DialTarget, options: DialOptions): readonly Exchange[] {
    if (options.handshake === 'sequential') return [...prepared.sequential, connectExchange(target, options)];
    return [{ step: 'greeting', request: withEarlyData(socks5Request(prepared.preamble, target), options), parse: prepared.parseGreeting }, ...prepared.pipelinedRest];
  }

  /** Greeting and auth: pipelined in one write unless the proxy needs them one at a time. */
  protected openExchanges(prepared: Socks5Prepared, options: DialOptions): readonly Exchange[] {
    if (options.handshake === 'sequential') return prepared.sequential;
    return [{ step: 'greeting', request: prepared.preamble, parse: prepared.parseGreeting }, ...prepared.pipelinedRest.slice(0, -1)];
  }

  protected connectExchanges(_prepared: Socks5Prepared, target: DialTarget): readonly Exchange[] {
    return [connectExchange(target, {})];
  }
}

function connectExchange(target: DialTarget, options: Pick<DialOptions, 'earlyData'>): Exchange {
  return { step: 'reply', request: withEarlyData(socks5Request(EMPTY, target), options), parse: parseConnectReply };
}

/** The request carrying the CONNECT, with the caller's early data after it. */
function withEarlyData(request: Buffer, options: Pick<DialOptions, 'earlyData'>): Buffer {
  return options.earlyData === undefined || options.earlyData.length === 0 ? request : Buffer.concat([request, options.earlyData]);
}
