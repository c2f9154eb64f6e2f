import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostOfAuthority, isAllowedHost } from '@pgw/config';
import type { Registry } from 'prom-client';

/**
 * Why a service cannot do its work yet (the agent: no policy of its own in force), or null when it
 * can. `/readyz` answers 503 with the reason, 200 `ready` otherwise; `/healthz` only says the process
 * answers. keepalived's check reads `/readyz` (deploy/keepalived/pgw-ha-check.sh).
 */
export type Readiness = () => string | null;

const ALWAYS_READY: Readiness = () => null;

export interface MetricsPortEvents {
  /** The port is held by another process: told once, the service goes on without it meanwhile. */
  taken(error: Error): void;
  /** Listening, after the port was taken. */
  bound(): void;
}

/**
 * The Host names a metrics port answers to besides IP addresses and localhost (DNS rebinding: a
 * page whose name is re-pointed at 127.0.0.1 must not read `/metrics` through an operator's browser),
 * and the variable that lists them, named in the 421 that every other Host gets.
 */
export interface MetricsPortHosts {
  readonly names: ReadonlySet<string>;
  readonly variable: string;
}

/** What the metrics port answers, and to whom. */
export interface MetricsPortAnswers {
  /** Which Host names are served (every path: `/readyz` tells a stranger why the node is not ready too). */
  hosts: MetricsPortHosts;
  /** `/readyz`: why the service cannot do its work yet, or null (the default: always ready). */
  readiness?: Readiness;
  /** `/healthz`'s body (the health service states its prober role); `ok` by default. */
  healthz?: () => string;
  /** How often a taken port is tried again. */
  retryMs?: number;
}

/** The metrics port of a running service: where it listens once bound (null while taken). */
export interface MetricsPort {
  address(): AddressInfo | null;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text format), `/healthz` and `/readyz` on the service's own port. A
 * port another process holds does not stop the service: any local user can bind a loopback port
 * while a service restarts, and exiting on EADDRINUSE made that a way to keep it down, restart
 * after restart (the health service: no probe, so no kill switch). Resolves once listening or once
 * the port is found taken (then retries every `retryMs` until bound); rejects on any other error of
 * the first try (a wrong address is a configuration error).
 */
export async function serveMetricsWhenFree(registry: Registry, host: string, port: number, events: MetricsPortEvents, answers: MetricsPortAnswers): Promise<MetricsPort> {
  const server = metricsServer(registry, answers.hosts, answers.healthz ?? (() => 'ok\n'), answers.readiness ?? ALWAYS_READY);
  const retryMs = answers.retryMs ?? 2_000;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let taken = false;
  await new Promise<void>((resolve, reject) => {
    const attempt = (first: boolean) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        if (first && error.code !== 'EADDRINUSE') return reject(error);
        if (closed) return;
        if (!taken) events.taken(error);
        taken = true;
        timer = setTimeout(() => attempt(false), retryMs);
        if (first) resolve();
      });
      server.listen(port, host, () => {
        server.removeAllListeners('error');
        // Closed while this retry was on its way: it listens no more (a stopped service kept its port).
        if (closed) return void server.close();
        if (taken) events.bound();
        if (first) resolve();
      });
    };
    attempt(true);
  });
  return {
    address: () => (server.listening ? (server.address() as AddressInfo) : null),
    close: () => {
      closed = true;
      clearTimeout(timer);
      server.closeAllConnections();
      return new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}

function metricsServer(registry: Registry, hosts: MetricsPortHosts, healthz: () => string, readiness: Readiness): Server {
  const refusal = `this port answers to IP addresses, localhost and the names in ${hosts.variable}\n`;
  return createServer((req, res) => {
    // Host only: nothing in front of a metrics port forwards (no X-Forwarded-Host is read anywhere here).
    if (!isAllowedHost(req.headers.host === undefined ? undefined : hostOfAuthority(req.headers.host), hosts.names)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end(refusal);
    } else if (req.method === 'GET' && req.url === '/metrics') {
      registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end(healthz());
    } else if (req.method === 'GET' && req.url === '/readyz') {
      const notReady = readiness();
      res.writeHead(notReady === null ? 200 : 503, { 'content-type': 'text/plain' }).end(notReady === null ? 'ready\n' : `${notReady}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
}
