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

export function clientStateLabel(state: MappingState): Label {
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

/** Search by client IP, proxy name, port or description; one pass, no per-row state. */
export function filterMappings(rows: readonly Mapping[], filter: MappingFilter): Mapping[] {
  const needle = filter.text.trim().toLowerCase();
  return rows.filter((m) => {
    if (filter.proxy !== 'all' && m.proxyStatus !== filter.proxy) return false;
    if (filter.client === 'disabled' ? m.enabled : filter.client !== 'all' && m.effective.state !== filter.client) return false;
    if (!needle) return true;
    return (
      m.clientIp.includes(needle) ||
      m.proxyName.toLowerCase().includes(needle) ||
      String(m.listenPort) === needle ||
      m.description.toLowerCase().includes(needle)
    );
  });
}
