import type { Socket } from 'node:net';
import type { ProxyEndpoint } from '@pgw/domain';
import { DialError } from './dial-error.js';
import { runHandshake, withContext } from './handshake.js';
import {
  parseSocks5Replies,
  SOCKS5_METHOD_NONE,
  SOCKS5_METHOD_USERPASS,
  socks5Preamble,
  socks5Request,
} from './socks5-protocol.js';
import { checkTarget } from './target.js';
import type { DialOptions, DialTarget, Dialer } from './types.js';

/** SOCKS5 dialer: greeting, auth and CONNECT pipelined in one write (see socks5-protocol.ts). */
export class Socks5Dialer implements Dialer {
  readonly protocol = 'socks5' as const;
  // The greeting and auth bytes only depend on the proxy's credentials.
  private readonly preambles = new WeakMap<ProxyEndpoint, Buffer>();

  dial(proxy: ProxyEndpoint, target: DialTarget, options: DialOptions): Promise<Socket> {
    let request: Buffer;
    try {
      checkTarget(target);
      let preamble = this.preambles.get(proxy);
      if (preamble === undefined) {
        preamble = socks5Preamble(proxy.username, proxy.password);
        this.preambles.set(proxy, preamble);
      }
      request = socks5Request(preamble, target);
    } catch (error) {
      return Promise.reject(error instanceof DialError ? withContext(error, proxy, target) : error);
    }
    const method = proxy.username === undefined ? SOCKS5_METHOD_NONE : SOCKS5_METHOD_USERPASS;
    return runHandshake(proxy, target, options, 'SOCKS5', request, parseSocks5Replies, method);
  }
}
