/**
 * How the pgw services are launched in a lab's gateway namespace: user, capabilities, node flags
 * and niceness, the same split as systemd/ and docker-compose.yml. The demo and the tests both
 * start the services from this one table.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceRole } from '@pgw/db';
// The bundler stays in scripts/ although the lab uses it: the image's build runs it there, and the
// Docker context leaves lab/ out (.dockerignore). Moving it into lab/ broke the image build (CI, session 16).
import { bundleEntry, ensureServiceBundle } from '../scripts/bundle-services.js';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

export { SERVICE_ROLES, type ServiceRole } from '@pgw/db';

export const SERVICES = ['agent', 'forwarder', 'health', 'api'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** How each service is launched: the same split and flags as systemd/ and docker-compose.yml. */
export interface ServiceSpec {
  role: ServiceRole;
  /** false: the machine's own namespace. */
  inGateway: boolean;
  uid: string;
  caps: string[];
  /**
   * Supplementary groups. The agent is in the forwarder's group (systemd SupplementaryGroups=, Compose
   * group_add) so that it can give its listener socket file to that group without CAP_CHOWN.
   */
  groups: string[];
  /** 0 for the api: its /healthz is on the API port, its /metrics on a free port (PGW_API_METRICS_PORT). */
  metricsPort: number;
  nodeFlags: string[];
  /**
   * Start-up priority. systemd gives api and health CPUWeight=50 (half the dataplane's share) so the
   * agent and forwarder win the CPU at boot; `nice -n 3` is the same share ratio for a plain process.
   */
  niceness: number;
}

// A 2 MiB young generation keeps health and api near 100 MiB RSS (measured 130-145 without); the
// forwarder keeps the default, which the relay's throughput needs. The agent also grows its old
// generation by 1.5x instead of V8's up to 4x: each run's garbage (renders of thousands of clients)
// otherwise piled up to a 164-223 MiB peak at 4096 mappings before a full GC (108 MiB with both).
export const SERVICE_SPECS: Record<ServiceName, ServiceSpec> = {
  agent: { role: 'pgw_agent', inGateway: true, uid: 'root', caps: ['net_admin', 'net_bind_service'], groups: ['pgw'], metricsPort: 9101, nodeFlags: ['--max-semi-space-size=2', '--heap-growing-percent=50'], niceness: 0 },
  forwarder: { role: 'pgw_forwarder', inGateway: true, uid: 'pgw', caps: [], groups: [], metricsPort: 9102, nodeFlags: [], niceness: 0 },
  health: { role: 'pgw_health', inGateway: true, uid: 'pgw-health', caps: [], groups: [], metricsPort: 9103, nodeFlags: ['--max-semi-space-size=2'], niceness: 3 },
  api: { role: 'pgw_api', inGateway: false, uid: 'pgw-api', caps: [], groups: [], metricsPort: 0, nodeFlags: ['--max-semi-space-size=2'], niceness: 3 },
};
export function niceArgv(spec: ServiceSpec): string[] {
  return spec.niceness > 0 ? ['nice', '-n', String(spec.niceness)] : [];
}

/**
 * The agent runs under guard/run-agent.sh, which switches route_localnet off after any exit of the
 * agent, SIGKILL included: what ExecStopPost= does under systemd (docs/SECURITY.md, "Layers").
 */
export const AGENT_SUPERVISOR = join(REPO_ROOT, 'guard/run-agent.sh');

/**
 * The file a service runs: its bundle, as under systemd and Compose (scripts/bundle-services.ts),
 * rebuilt first if a build is newer than it.
 */
export function serviceEntry(service: ServiceName): string {
  ensureServiceBundle(service);
  return join(REPO_ROOT, bundleEntry(service));
}

/** The service's command line after the privilege and nice prefixes: the same in the tests and the demo. */
export function serviceMainArgv(service: ServiceName, extraNodeFlags: readonly string[] = []): string[] {
  const spec = SERVICE_SPECS[service];
  const main = ['node', ...spec.nodeFlags, ...extraNodeFlags, serviceEntry(service)];
  return service === 'agent' ? ['sh', AGENT_SUPERVISOR, ...main] : main;
}

