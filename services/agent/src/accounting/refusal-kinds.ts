import { FLOW_CAP_REFUSED_SET, TCP_RATE_REFUSED_SET } from '../ruleset/render-ruleset.js';
import type { RefusalKind } from './client-refusals.js';

/** Flow 23: new connections refused at a client's cap of tracked ones (PGW_FLOWS_PER_CLIENT). */
export function flowCapRefusals(cap: number): RefusalKind {
  return {
    name: 'flow cap',
    set: FLOW_CAP_REFUSED_SET,
    total: { name: 'pgw_clients_over_flow_cap_total', help: 'New connections of mapped clients refused at their cap of tracked connections (PGW_FLOWS_PER_CLIENT; each retransmitted first packet counts again)' },
    perClient: { name: 'pgw_client_over_flow_cap_total', help: 'Refusals at the connection cap per client (only with the setting per_client_metrics)' },
    warning: 'clients refused new connections at their cap (PGW_FLOWS_PER_CLIENT; docs/OPERATIONS.md)',
    limit: { cap },
  };
}

/** Flow 25: new TCP connections dropped over a client's rate (PGW_TCP_NEW_PER_CLIENT). */
export function tcpRateRefusals(rate: number): RefusalKind {
  return {
    name: 'TCP rate',
    set: TCP_RATE_REFUSED_SET,
    total: { name: 'pgw_clients_over_tcp_rate_total', help: 'New TCP connections of mapped clients dropped over their rate (PGW_TCP_NEW_PER_CLIENT; each retransmitted SYN counts again)' },
    perClient: { name: 'pgw_client_over_tcp_rate_total', help: 'Drops over the new-connection rate per client (only with the setting per_client_metrics)' },
    warning: 'clients opened new connections faster than their rate; the excess was dropped (PGW_TCP_NEW_PER_CLIENT; docs/OPERATIONS.md)',
    limit: { ratePerSecond: rate },
  };
}
