import { isIP, isIPv6 } from 'node:net';

/**
 * Which Host names the api and the services' metrics ports answer to (DNS rebinding,
 * docs/SECURITY.md). A rebinding page's requests carry the attacker's own name in Host, whatever
 * address it now resolves to; an address typed as such (an IP literal) or localhost cannot be an
 * attacker's name, so those are always served and only names must be given (PGW_API_HOSTNAMES,
 * PGW_METRICS_HOSTNAMES: fields.hostNames).
 */

/** A DNS name as given or received: lower case, without the root's trailing dot. */
export function normalizeHostName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why a name given in PGW_API_HOSTNAMES or PGW_METRICS_HOSTNAMES cannot be one, or null. */
export function hostNameProblem(name: string): string | null {
  const normalized = normalizeHostName(name);
  if (isIP(normalized) !== 0 || isIP(normalized.replace(/^\[(.*)\]$/, '$1')) !== 0) return `${name} is an IP address: addresses are always served, list names only`;
  if (normalized === 'localhost') return 'localhost is always served: list other names only';
  if (normalized.length === 0 || normalized.length > 253) return `${JSON.stringify(name)} is not a DNS name (1-253 characters)`;
  const labels = normalized.split('.');
  if (!labels.every((label) => LABEL.test(label))) return `${JSON.stringify(name)} is not a DNS name (labels of a-z, 0-9 and inner hyphens; no port, no wildcard)`;
  // A last label of digits only would read as an address somewhere (inet_aton spellings).
  if (/^[0-9]+$/.test(labels.at(-1)!)) return `${JSON.stringify(name)} ends in a numeric label: not a DNS name`;
  return null;
}

/** The host of an authority (`Host`, an `X-Forwarded-Host` entry): its port removed, IPv6 brackets kept. */
export function hostOfAuthority(authority: string): string {
  const value = authority.trim();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end === -1 ? value : value.slice(0, end + 1);
  }
  const colon = value.indexOf(':');
  // One colon: host:port. More, unbracketed: no valid authority; judged whole (and refused as a name).
  return colon !== -1 && value.indexOf(':', colon + 1) === -1 ? value.slice(0, colon) : value;
}

/** Whether a request's host (from hostOfAuthority) may be served. */
export function isAllowedHost(host: string | undefined, names: ReadonlySet<string>): boolean {
  if (host === undefined || host.length === 0) return false;
  const normalized = normalizeHostName(host);
  // IPv6 only in brackets, IPv4 only bare, no zone id: the forms a browser sends for an address.
  if (normalized.startsWith('[') && normalized.endsWith(']')) return isIPv6(normalized.slice(1, -1)) && !normalized.includes('%');
  if (isIP(normalized) === 4) return true;
  return normalized === 'localhost' || names.has(normalized);
}
