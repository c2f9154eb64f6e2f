import type { Socket } from 'node:net';
import type { ProxyEndpoint } from '@pgw/domain';
import { DialError } from './dial-error.js';
import { runHandshake, withContext } from './handshake.js';
import {
  connectRequest,
  HTTP_WITH_CREDENTIALS,
  HTTP_WITHOUT_CREDENTIALS,
  parseConnectResponse,
  proxyAuthorizationLine,
} from './http-connect-protocol.js';
import { checkTarget } from './target.js';
import type { DialOptions, DialTarget, Dialer } from './types.js';

/** HTTP CONNECT dialer with optional Basic proxy authentication. */
export class HttpConnectDialer implements Dialer {
  readonly protocol = 'http' as const;
  // The Proxy-Authorization line only depends on the proxy's credentials.
  private readonly authorizationLines = new WeakMap<ProxyEndpoint, string>();

  dial(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions): Promise<Socket> {
    let request: Buffer;
    try {
      checkTarget(target);
      let authorization = this.authorizationLines.get(proxy);
      if (authorization === undefined) {
        authorization = proxyAuthorizationLine(proxy.username, proxy.password);
        this.authorizationLines.set(proxy, authorization);
      }
      request = connectRequest(authorization, target);
    } catch (error) {
      return Promise.reject(error instanceof DialError ? withContext(error, proxy, target) : error);
    }
    const credentials = proxy.username === undefined ? HTTP_WITHOUT_CREDENTIALS : HTTP_WITH_CREDENTIALS;
    return runHandshake(proxy, target, options, 'HTTP CONNECT', request, parseConnectResponse, credentials);
  }
}
