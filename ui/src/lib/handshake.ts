import type { Proxy } from '../api/types.js';

/**
 * The SOCKS5 handshake the forwarder uses for a proxy, as the proxies table shows it: the forced
 * mode, what auto learned, or that it is still learning (sequential meanwhile). HTTP CONNECT is
 * one request and has no handshake to learn.
 */
export function handshakeLabel(proxy: Pick<Proxy, 'protocol' | 'handshakeMode' | 'handshakeLearned'>): string {
  if (proxy.protocol !== 'socks5') return '—';
  if (proxy.handshakeMode !== 'auto') return `${proxy.handshakeMode} (set)`;
  return proxy.handshakeLearned === null ? 'learning (sequential meanwhile)' : `${proxy.handshakeLearned} (learned)`;
}
