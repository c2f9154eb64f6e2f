import { type Mapping, type Port, type ProxyHandshake, type ProxyHandshakeMode, type ProxyProtocol, type ProxyStatus, type Settings, ipv4Schema, portSchema } from '@pgw/domain';
import type { Db } from './create-db.js';
import { loadSettings } from './settings-repository.js';

/** The proxy columns the agent may read (its role has no grant on credentials). */
export interface DesiredProxy {
  readonly id: number;
  readonly protocol: ProxyProtocol;
  readonly host: string;
  readonly port: Port;
  readonly status: ProxyStatus;
}

/** The forwarder also needs the sealed credentials and the SOCKS5 handshake to dial. */
export interface DesiredProxyWithCredentials extends DesiredProxy {
  readonly username: string | null;
  readonly passwordEnc: string | null;
  readonly handshakeMode: ProxyHandshakeMode;
  readonly handshakeLearned: ProxyHandshake | null;
}

/** What the dataplane converges to: a consistent snapshot read in one repeatable-read transaction. */
export interface DesiredState<P extends DesiredProxy = DesiredProxy> {
  readonly settings: Settings;
  readonly proxies: readonly P[];
  readonly mappings: readonly Mapping[];
  /** Rows that failed validation: left out (so that client gets nothing) and reported, never rendered. */
  readonly rejected: readonly { readonly mappingId: number; readonly reason: string }[];
}

export async function loadDesiredState(db: Db): Promise<DesiredState> {
  return snapshot(db, (trx) => trx.selectFrom('proxies').select(['id', 'protocol', 'host', 'port', 'status']).orderBy('id').execute());
}

export async function loadDesiredStateWithCredentials(db: Db): Promise<DesiredState<DesiredProxyWithCredentials>> {
  return snapshot(db, (trx) =>
    trx.selectFrom('proxies').select(['id', 'protocol', 'host', 'port', 'status', 'username', 'passwordEnc', 'handshakeMode', 'handshakeLearned']).orderBy('id').execute(),
  );
}

async function snapshot<P extends DesiredProxy>(db: Db, selectProxies: (trx: Db) => Promise<readonly unknown[]>): Promise<DesiredState<P>> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const settings: Settings = await loadSettings(trx);
      const proxies = (await selectProxies(trx)) as P[];
      const rows = await trx.selectFrom('mappings').select(['id', 'clientIp', 'proxyId', 'listenPort', 'enabled', 'description', 'privateDestinations']).orderBy('id').execute();
      const mappings: Mapping[] = [];
      const rejected: { mappingId: number; reason: string }[] = [];
      for (const row of rows) {
        const clientIp = ipv4Schema.safeParse(row.clientIp);
        const listenPort = portSchema.safeParse(row.listenPort);
        if (clientIp.success && listenPort.success) mappings.push({ ...row, clientIp: clientIp.data, listenPort: listenPort.data });
        else rejected.push({ mappingId: row.id, reason: `invalid ${clientIp.success ? 'listen_port' : 'client_ip'}` });
      }
      return { settings, proxies, mappings, rejected };
    });
}
