import { type FailPolicy, type Mapping, type Port, type ProxyHandshake, type ProxyHandshakeMode, type ProxyProtocol, type ProxyStatus, type Settings, ipv4Schema, portSchema } from '@pgw/domain';
import { sql } from 'kysely';
import type { Db } from './create-db.js';
import { readSettings } from './settings-repository.js';

/** The proxy columns the agent may read (its role has no grant on credentials). */
export interface DesiredProxy {
  readonly id: number;
  readonly protocol: ProxyProtocol;
  readonly host: string;
  readonly port: Port;
  readonly status: ProxyStatus;
  /**
   * When the status took its value, in ms on the reader's clock (from the status' age as Postgres
   * tells it, so the two clocks need not agree); null or absent: not known. chooseUpstream's hold-down.
   */
  readonly statusSince?: number | null;
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

/** The status' age in ms by Postgres' clock (migration 0013 lets the agent and forwarder read it); NULL: never changed. */
export const statusAgeMs = sql<number | null>`(extract(epoch from (now() - status_changed_at)) * 1000)::float8`;

/** statusAgeMs -> DesiredProxy.statusSince on this process's clock. */
export function statusSinceOf(ageMs: number | null, now: number = Date.now()): number | null {
  return ageMs === null ? null : now - Math.max(0, ageMs);
}

/**
 * The forwarder's read. A settings row the domain schema refuses (only a writer past the api can
 * store one) fails the read without `previous`; with it, those settings stand in and the problem
 * is returned beside the state, so that the proxies and mappings still apply (a re-pointed or
 * removed mapping must not wait for the row to be fixed).
 */
export async function loadDesiredStateWithCredentials(
  db: Db,
  previous: Settings | null = null,
): Promise<{ readonly state: DesiredState<DesiredProxyWithCredentials>; readonly settingsRefused: string | null }> {
  return snapshot(db, previous, (trx) =>
    trx
      .selectFrom('proxies')
      .select(['id', 'protocol', 'host', 'port', 'status', 'username', 'passwordEnc', 'handshakeMode', 'handshakeLearned'])
      .select(statusAgeMs.as('statusAgeMs'))
      .orderBy('id')
      .execute(),
  );
}

async function snapshot<P extends DesiredProxy>(db: Db, previous: Settings | null, selectProxies: (trx: Db) => Promise<readonly unknown[]>): Promise<{ state: DesiredState<P>; settingsRefused: string | null }> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const read = await readSettings(trx);
      const problem = 'refusals' in read ? read.refusals.map((refusal) => refusal.reason).join('; ') : null;
      if (problem !== null && previous === null) throw new Error(`settings refused: ${problem}`);
      const settings: Settings = 'settings' in read ? read.settings : previous!;
      const now = Date.now();
      const proxies = ((await selectProxies(trx)) as (P & { statusAgeMs: number | null })[]).map(({ statusAgeMs: age, ...p }) => ({ ...p, statusSince: statusSinceOf(age, now) }) as unknown as P);
      const rows = await trx
        .selectFrom('mappings')
        .select(['id', 'clientIp', 'proxyId', 'listenPort', 'enabled', 'description', 'privateDestinations'])
        // Migration 0013's columns (issue 17), not in the shared kysely schema: read by name.
        .select([sql<FailPolicy>`fail_policy`.as('failPolicy'), sql<number[]>`backup_proxy_ids`.as('backupProxyIds')])
        .orderBy('id')
        .execute();
      const mappings: Mapping[] = [];
      const rejected: { mappingId: number; reason: string }[] = [];
      for (const row of rows) {
        const clientIp = ipv4Schema.safeParse(row.clientIp);
        const listenPort = portSchema.safeParse(row.listenPort);
        if (clientIp.success && listenPort.success) mappings.push({ ...row, clientIp: clientIp.data, listenPort: listenPort.data });
        else rejected.push({ mappingId: row.id, reason: `invalid ${clientIp.success ? 'listen_port' : 'client_ip'}` });
      }
      return { state: { settings, proxies, mappings, rejected }, settingsRefused: problem };
    });
}
