import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Why a service cannot do its work yet (the agent: no policy of its own in force), or null when it
 * can. `/readyz` answers 503 with the reason, 200 `ready` otherwise; `/healthz` only says the process
 * answers. keepalived's check reads `/readyz` (deploy/keepalived/pgw-ha-check.sh).
 */
export type Readiness = () => string | null;

const ALWAYS_READY: Readiness = () => null;

/** Serves `/metrics` (Prometheus text format), `/healthz` and `/readyz` on the service's own port; `healthz` words its body (e.g. health's prober role). */
export function startMetricsServer(registry: Registry, host: string, port: number, healthz: () => string = () => 'ok\n'): Promise<Server> {
  const server = metricsServer(registry, healthz, ALWAYS_READY);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

export interface MetricsPortEvents {
  /** The port is held by another process: told once, the service goes on without it meanwhile. */
  taken(error: Error): void;
  /** Listening, after the port was taken. */
  bound(): void;
}

/**
 * startMetricsServer for a dataplane service (agent, forwarder): a port another process holds does
 * not stop the service, whose work (the kill switch, the relays) matters more than its metrics.
 * Any local user can bind a loopback port while the service restarts; exiting on EADDRINUSE made
 * that a way to keep the service down, restart after restart. Resolves once listening or once the
 * port is found taken (then retries every `retryMs` until bound); rejects on any other error of
 * the first try (a wrong address is a configuration error).
 */
export async function serveMetricsWhenFree(registry: Registry, host: string, port: number, events: MetricsPortEvents, readiness: Readiness = ALWAYS_READY, retryMs = 2_000): Promise<{ close(): Promise<void> }> {
  const server = metricsServer(registry, () => 'ok\n', readiness);
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
        if (taken) events.bound();
        if (first) resolve();
      });
    };
    attempt(true);
  });
  return {
    close: () => {
      closed = true;
      clearTimeout(timer);
      return new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}

function metricsServer(registry: Registry, healthz: () => string, readiness: Readiness): Server {
  return createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
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
