import { isIP } from 'node:net';
import { isDnsSafeHostname } from './hostname.js';

/**
 * What is wrong with a health check URL (settings.checkUrl, already an http(s) URL by the settings
 * schema) as something to store, or null. Its host is dialed through every proxy: one the dialers
 * refuse fails every probe before any dial, and every proxy goes down. Credentials in it are never
 * sent by the probe, while every console user can read the settings. The api refuses both; a row
 * already stored is not judged again (its readers keep working as before).
 */
export function checkUrlProblem(checkUrl: string): string | null {
  const url = new URL(checkUrl);
  if (url.username !== '' || url.password !== '') return 'must not carry a username or password (the probe never sends them, and every console user can read the settings)';
  const host = dialedHost(url);
  if (isIP(host) === 0 && !isDnsSafeHostname(host)) {
    return `host ${JSON.stringify(host.slice(0, 64))} is not an IP address or a hostname of letters, digits, '-' and '_' between dots`;
  }
  return null;
}

/** The host a URL names as a dial takes it: an IPv6 literal without its brackets. */
export function dialedHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
