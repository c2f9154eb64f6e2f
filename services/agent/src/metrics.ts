import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { ERROR_CAUSES, type ReconcileOutcome } from './ruleset/reconciler.js';

/** The agent's metrics (names fixed in contracts.md; alert rules depend on them). */
export function createAgentMetrics(registry: Registry) {
  const duration = new Histogram({
    name: 'pgw_agent_reconcile_duration_seconds',
    help: 'Time of one reconcile run (load desired state, render, apply, verify)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const lastSuccess = new Gauge({ name: 'pgw_agent_last_success_timestamp_seconds', help: 'Unix time of the last reconcile without error', registers: [registry] });
  const applied = new Gauge({ name: 'pgw_agent_applied_mappings', help: 'Mappings in force (client DNAT-ed to its forwarder port)', registers: [registry] });
  const blocked = new Gauge({ name: 'pgw_client_blocked', help: '1 while a mapped client is blocked, by reason', labelNames: ['client', 'reason'], registers: [registry] });
  const errors = new Counter({ name: 'pgw_agent_reconcile_errors_total', help: 'Reconcile errors by cause', labelNames: ['cause'], registers: [registry] });
  for (const cause of ERROR_CAUSES) errors.inc({ cause }, 0);
  const guardUncovered = new Gauge({ name: 'pgw_agent_guard_lan_mismatch', help: "1 while the guard file's PGW_LAN_IF is not the LAN interface in force (the guard's layer is missing on the LAN)", registers: [registry] });
  const localnetAll = new Gauge({ name: 'pgw_agent_route_localnet_all', help: '1 while net.ipv4.conf.all.route_localnet is 1 (the kernel ORs it with the LAN\'s: the LAN open to 127.0.0.0/8)', registers: [registry] });

  return (outcome: ReconcileOutcome): void => {
    duration.observe(outcome.durationMs / 1000);
    for (const error of outcome.errors) errors.inc({ cause: error.cause });
    if (outcome.ok) lastSuccess.set(Date.now() / 1000);
    if (outcome.build) {
      guardUncovered.set(outcome.build.guardRefused ? 1 : 0);
      localnetAll.set(outcome.build.localnetRefused ? 1 : 0);
      const clients = outcome.build.policy.clients;
      applied.set(clients.filter((c) => c.blocked === null).length);
      blocked.reset();
      for (const c of clients) if (c.blocked !== null) blocked.set({ client: c.ip, reason: c.blocked }, 1);
    }
  };
}
