import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiConfig } from '../config.js';

/**
 * Serves the API port: the socket systemd passed (pgw-api.socket, which keeps the port bound while
 * the api restarts, so that no local user can take it and collect the console's passwords in the
 * gap), else a socket of our own at PGW_API_HOST:PGW_API_PORT. A passed socket must be bound where
 * that configuration says: otherwise the api would quietly serve an address the operator no longer
 * meant, so it refuses to start and names both.
 */
export async function listenApi(server: Server, config: Pick<ApiConfig, 'PGW_API_HOST' | 'PGW_API_PORT'>, listenFds: readonly number[]): Promise<void> {
  if (listenFds.length > 1) throw new Error(`systemd passed ${listenFds.length} sockets (LISTEN_FDS); the api serves one: name one ListenStream= in pgw-api.socket`);
  const fd = listenFds[0];
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (fd === undefined) server.listen(config.PGW_API_PORT, config.PGW_API_HOST, () => resolve());
    else server.listen({ fd }, () => resolve());
  });
  if (fd === undefined) return;
  const bound = server.address() as AddressInfo | string | null;
  const where = bound === null || typeof bound === 'string' ? String(bound) : `${bound.address}:${bound.port}`;
  const meant = `${config.PGW_API_HOST}:${config.PGW_API_PORT}`;
  if (where !== meant) {
    server.close();
    throw new Error(`the socket systemd passed is bound to ${where}, PGW_API_HOST:PGW_API_PORT say ${meant}: make ListenStream= in pgw-api.socket name the same address`);
  }
}
