import type { ProxyEndpoint } from '@pgw/domain';
import { ProxyDialer } from './dialer-base.js';
import type { Exchange, ReplyParser } from './handshake.js';
import {
  connectRequest,
  HTTP_WITH_CREDENTIALS,
  HTTP_WITHOUT_CREDENTIALS,
  parseConnectResponse,
  proxyAuthorizationLine,
} from './http-connect-protocol.js';
import type { DialTarget } from './types.js';

/** Per proxy: the Proxy-Authorization line and the response parser that words a 401/407. */
interface HttpPrepared {
  readonly authorization: string;
  readonly parse: ReplyParser;
}

const PARSE_WITHOUT: ReplyParser = (reply, seen) => parseConnectResponse(reply, HTTP_WITHOUT_CREDENTIALS, seen);
const PARSE_WITH: ReplyParser = (reply, seen) => parseConnectResponse(reply, HTTP_WITH_CREDENTIALS, seen);

/** HTTP CONNECT dialer with optional Basic proxy authentication: one request, one answer. */
export class HttpConnectDialer extends ProxyDialer<HttpPrepared> {
  readonly protocol = 'http' as const;
  protected readonly protocolName = 'HTTP CONNECT';

  protected prepare(proxy: ProxyEndpoint): HttpPrepared {
    return {
      authorization: proxyAuthorizationLine(proxy.username, proxy.password),
      parse: proxy.username === undefined ? PARSE_WITHOUT : PARSE_WITH,
    };
  }

  protected exchanges(prepared: HttpPrepared, target: DialTarget): readonly Exchange[] {
    return [{ step: 'reply', request: connectRequest(prepared.authorization, target), parse: prepared.parse }];
  }

  /** Nothing before the CONNECT: a warm HTTP connection is the TCP connection. */
  protected openExchanges(): readonly Exchange[] {
    return [];
  }

  protected connectExchanges(prepared: HttpPrepared, target: DialTarget): readonly Exchange[] {
    return this.exchanges(prepared, target);
  }
}
