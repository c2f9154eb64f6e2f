import type { Mapping, MappingState, ProxyStatus } from '../api/types.js';

/** Every state has a reason an operator can read; colour is never the only signal. */
export type Tone = 'ok' | 'bad' | 'warn' | 'idle';
export interface Label {
  readonly tone: Tone;
  readonly text: string;
}

const REASONS: Record<string, string> = {
  mapping_disabled: 'mapping disabled',
  proxy_down: 'proxy down',
  proxy_unknown: 'proxy not checked yet',
  port_refused: 'port refused by the agent',
  pending: 'changed, not applied yet',
  agent_unavailable: 'agent not reporting',
  agent_error: 'last apply failed',
  rejected: 'refused by the agent',
};

export function reasonText(reason: string | null): string {
  if (reason === null) return 'no reason given';
  return REASONS[reason] ?? reason.replace(/_/g, ' ');
}

export function proxyStatusLabel(status: ProxyStatus): Label {
  if (status === 'up') return { tone: 'ok', text: 'up' };
  if (status === 'down') return { tone: 'bad', text: 'down' };
  return { tone: 'warn', text: 'unknown' };
}

/** `backupName`: the name of the proxy a client on a backup uses (state.backupProxyId), when known. */
export function clientStateLabel(state: MappingState, backupName?: string): Label {
  // Effective, but not through its own proxy (fail policy backup, issue 17): worth a look.
  if (state.state === 'effective' && state.backupProxyId !== undefined) return { tone: 'warn', text: `effective (on backup ${backupName ?? `proxy ${state.backupProxyId}`})` };
  if (state.state === 'effective') return { tone: 'ok', text: 'effective' };
  if (state.state === 'blocked') return { tone: 'bad', text: `blocked: ${reasonText(state.reason)}` };
  return { tone: 'warn', text: `not applied: ${reasonText(state.reason)}` };
}

export type ClientFilter = 'all' | 'effective' | 'blocked' | 'not_applied' | 'disabled';
export type ProxyFilter = 'all' | ProxyStatus;

export interface MappingFilter {
  readonly text: string;
  readonly client: ClientFilter;
  readonly proxy: ProxyFilter;
}

/** Search by client IP (whole octets, see matchesIp), proxy name, port or description; one pass, no per-row state. */
export function filterMappings(rows: readonly Mapping[], filter: MappingFilter): Mapping[] {
  const needle = filter.text.trim().toLowerCase();
  return rows.filter((m) => {
    if (filter.proxy !== 'all' && m.proxyStatus !== filter.proxy) return false;
    if (filter.client === 'disabled' ? m.enabled : filter.client !== 'all' && m.effective.state !== filter.client) return false;
    if (!needle) return true;
    return (
      matchesIp(needle, m.clientIp) ||
      m.proxyName.toLowerCase().includes(needle) ||
      String(m.listenPort) === needle ||
      m.description.toLowerCase().includes(needle)
    );
  });
}

/**
 * An IP search matches whole octets: ".10" finds 192.168.2.10, not .100; "192.168.2." every client of
 * that /24; a trailing "*" asks for a prefix (".10*" finds .10 and .100-.109). Only digits and dots
 * (and the star) make a needle an IP search.
 */
export function matchesIp(needle: string, ip: string): boolean {
  if (!/^[\d.]+\*?$/.test(needle)) return false;
  const prefix = needle.endsWith('*');
  const body = prefix ? needle.slice(0, -1) : needle;
  if (!body) return true;
  const wanted = (body.startsWith('.') ? '' : '.') + body + (prefix || body.endsWith('.') ? '' : '.');
  return `.${ip}.`.includes(wanted);
}

export type MappingSortKey = 'clientIp' | 'proxyName' | 'proxyStatus' | 'state' | 'listenPort' | 'description';
export const MAPPING_SORT_KEYS: readonly MappingSortKey[] = ['clientIp', 'proxyName', 'proxyStatus', 'state', 'listenPort', 'description'];

const ipValue = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);

/** A stable sort by one column; IPs by value (.9 before .10 before .100), text by locale. */
export function sortMappings(rows: readonly Mapping[], key: MappingSortKey, dir: 'asc' | 'desc'): Mapping[] {
  const value = (m: Mapping): number | string => {
    switch (key) {
      case 'clientIp':
        return ipValue(m.clientIp);
      case 'listenPort':
        return m.listenPort;
      case 'state':
        return clientStateLabel(m.effective).text;
      default:
        return m[key];
    }
  };
  const sign = dir === 'asc' ? 1 : -1;
  return rows
    .map((m, i) => ({ m, i, v: value(m) }))
    .sort((a, b) => {
      const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v));
      return c !== 0 ? sign * c : a.i - b.i;
    })
    .map((x) => x.m);
}
