import type { LiveEvent } from '../api/types.js';

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** One line per notice for the dashboard feed; proxy names are looked up by the caller. */
export function describeEvent(event: LiveEvent, proxyName: (id: number) => string): string {
  switch (event.type) {
    case 'proxy.status': {
      const why = event.status === 'down' && event.error ? `: ${event.error}` : '';
      return `Proxy ${proxyName(event.proxyId)} ${event.previous} → ${event.status}${why}`;
    }
    case 'proxy.exit_ip_changed':
      return `Proxy ${event.name} exit IP changed: ${event.previous} → ${event.exitIp}`;
    case 'proxy.exit_ip_alarm':
      if (event.kind === 'gateway_address') return `Proxy ${event.name} does not proxy: exit IP ${event.exitIp} is the gateway's`;
      if (event.kind === 'proxy_address') return `Proxy ${event.name} does not proxy: exit IP ${event.exitIp} is its own address`;
      return `Proxy ${event.name} shares exit IP ${event.exitIp} with ${event.others.map((o) => o.name).join(', ')}`;
    case 'proxy.changed':
      return `Proxy ${proxyName(event.proxyId)} ${event.action}`;
    case 'mapping.changed':
      return event.mappingId === null ? `Mappings ${event.action}` : `Mapping #${event.mappingId} ${event.action}`;
    case 'config.changed':
      return 'Settings changed';
    case 'agent.reconciled':
      return event.ok
        ? `Rules applied in ${Math.round(event.durationMs)} ms: ${count(event.appliedMappings, 'mapping')} effective, ${count(event.blockedClients, 'client')} blocked`
        : `Rules NOT applied: ${event.error ?? 'unknown error'}`;
    case 'forwarder.upstream_failure':
      return `Forwarder cannot reach proxy ${proxyName(event.proxyId)} (${event.failures}×): ${event.reason}`;
    case 'ha.state_changed':
      return `Gateway node ${event.node} is now ${event.state}${event.previous ? ` (was ${event.previous})` : ''}`;
  }
}
