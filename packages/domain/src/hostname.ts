// A hostname a proxy is given verbatim (SOCKS5 ATYP 3, the HTTP CONNECT request line): only
// DNS-safe characters, so no space, CR/LF or colon can smuggle more protocol in. The dialers refuse
// any other target host (packages/dialers target.ts); what the api stores for a dial (the health
// check URL) is held to the same rule, so that nothing stored fails every dial later.

const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;
export const MAX_HOSTNAME = 253;

/** Letters, digits, '-' and '_' in dot-separated labels (none starting or ending with '-'), 253 characters at most. */
export function isDnsSafeHostname(host: string): boolean {
  return host.length <= MAX_HOSTNAME && HOSTNAME.test(host);
}
