import { type Db, type DesiredProxy, type DesiredState, readSettings, statusAgeMs, statusSinceOf } from '@pgw/db';
import { type Refusal, SettingsRefused } from '../policy/build-policy.js';
import type { DesiredTable, LoadedRows, RowsRead } from '../policy/desired-source.js';
import { type Mapping, backupProxyIdsSchema, clientShapingSchema, failPolicySchema, ipv4Schema, macAddressSchema, portSchema } from '@pgw/domain';
import { sql } from 'kysely';

/**
 * Each table's fingerprint: a hash of every column the agent renders from, in id order. A row's
 * text form keeps a NULL's place and quotes what needs it (concat_ws skipped NULLs: a rate moved
 * from one direction to the other, or a rate that became a quota, left the same text).
 */
const FINGERPRINT = {
  settings: sql`md5(coalesce((SELECT row_to_json(s)::text FROM settings s WHERE id = 1), ''))`,
  proxies: sql`md5(coalesce((SELECT string_agg(row(id, host, port, status, status_changed_at)::text, ';' ORDER BY id) FROM proxies), ''))`,
  mappings: sql`md5(coalesce((SELECT string_agg(row(id, client_ip, proxy_id, listen_port, enabled, mac_address, rate_down_kbit, rate_up_kbit, quota_bytes, quota_epoch, fail_policy, backup_proxy_ids)::text, ';' ORDER BY id) FROM mappings), ''))`,
} as const;

/**
 * The agent's read of the desired state: a fingerprint of every row it renders from, one per table
 * (settings, proxies, mappings), and the rows of the tables whose fingerprint differs from
 * `known`'s; the other tables are taken from `known` as they are (a proxy-status notice does not
 * reload and revalidate 4096 mappings). All from one repeatable-read snapshot, so the fingerprint
 * always describes exactly the rows returned with it. state is null when nothing changed. Columns
 * the agent does not use (descriptions, timestamps of mappings) are not read.
 */
export async function loadDesiredStateIfChanged(
  db: Db,
  known: LoadedRows | null,
  /**
   * The tables to look at (default all): the others are taken from `known` without even computing
   * their fingerprint (a proxy-status notice does not hash 4096 mapping rows; the periodic resync
   * looks at every table). Ignored without `known`.
   */
  tables?: ReadonlySet<DesiredTable>,
  /** The settings that stand in for a row the schema refuses when `known` has none (the ones in force). */
  standIn: DesiredState['settings'] | null = null,
): Promise<RowsRead> {
  if (known !== null && tables?.size === 1 && tables.has('proxies')) return loadProxiesOnly(db, known);
  const [knownSettings, knownProxies, knownMappings] = known === null ? [] : known.fingerprint.split('.');
  const look = (table: DesiredTable) => known === null || tables === undefined || tables.has(table);
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const { rows } = await sql<{ settings: string | null; proxies: string | null; mappings: string | null }>`
        SELECT
          ${look('settings') ? FINGERPRINT.settings : sql`NULL`} AS settings,
          ${look('proxies') ? FINGERPRINT.proxies : sql`NULL`} AS proxies,
          ${look('mappings') ? FINGERPRINT.mappings : sql`NULL`} AS mappings`.execute(trx);
      const parts = { settings: rows[0]!.settings ?? knownSettings, proxies: rows[0]!.proxies ?? knownProxies, mappings: rows[0]!.mappings ?? knownMappings };
      const fingerprint = `${parts.settings}.${parts.proxies}.${parts.mappings}`;
      if (known !== null && fingerprint === known.fingerprint) return { fingerprint, state: null };
      const previous = known?.state;
      const { settings, settingsRefused } = previous && knownSettings === parts.settings ? { settings: previous.settings, settingsRefused: known!.settingsRefused } : await settingsOrStandIn(trx, previous?.settings ?? standIn);
      const proxies =
        previous && knownProxies === parts.proxies
          ? previous.proxies
          : withStatusSince(await trx.selectFrom('proxies').select(['id', 'protocol', 'host', 'port', 'status']).select(statusAgeMs.as('statusAgeMs')).orderBy('id').execute());
      const { mappings, rejected } = previous && knownMappings === parts.mappings ? previous : await loadMappings(trx);
      return { fingerprint, state: { settings, proxies, mappings, rejected }, ...(settingsRefused ? { settingsRefused } : {}) };
    });
}

/**
 * A proxy notice's read, the hot path: the proxies' fingerprint and rows in ONE statement (one
 * snapshot by itself: one round trip to Postgres instead of a transaction's four). The rows come
 * back whether they changed or not (a few hundred); the other tables are `known`'s.
 */
async function loadProxiesOnly(db: Db, known: LoadedRows): Promise<RowsRead> {
  const { rows } = await sql<{ fingerprint: string; proxies: (DesiredProxy & { statusAgeMs: number | null })[] }>`
    SELECT
      ${FINGERPRINT.proxies} AS fingerprint,
      coalesce((SELECT json_agg(json_build_object('id', id, 'protocol', protocol, 'host', host, 'port', port, 'status', status, 'statusAgeMs', ${statusAgeMs}) ORDER BY id) FROM proxies), '[]') AS proxies`.execute(db);
  const [settings, , mappings] = known.fingerprint.split('.');
  const fingerprint = `${settings}.${rows[0]!.fingerprint}.${mappings}`;
  if (fingerprint === known.fingerprint) return { fingerprint, state: null };
  return { fingerprint, state: { ...known.state, proxies: withStatusSince(rows[0]!.proxies) }, ...(known.settingsRefused ? { settingsRefused: known.settingsRefused } : {}) };
}

/** Rows read with statusAgeMs -> DesiredProxy with statusSince on this process's clock (the hold-down's start). */
function withStatusSince(rows: readonly { readonly statusAgeMs: number | null }[]): DesiredProxy[] {
  const now = Date.now();
  // The columns are the DesiredProxy ones, as the select before this function read them.
  return rows.map(({ statusAgeMs: age, ...proxy }) => ({ ...proxy, statusSince: statusSinceOf(age, now) }) as DesiredProxy);
}

/** The mapping rows, each validated like any input of root code: an invalid one is left out and reported. */
async function loadMappings(trx: Db): Promise<Pick<DesiredState, 'mappings' | 'rejected'>> {
  const mappingRows = await trx.selectFrom('mappings').select(['id', 'clientIp', 'proxyId', 'listenPort', 'enabled', 'macAddress'])
    // Migration 0009's columns, not in the shared kysely schema (its MappingRow is the api's mapping type
    // too, whose routes for limits come later): read by name, typed and validated here.
    .select([
      sql<number | null>`rate_down_kbit`.as('rateDownKbit'),
      sql<number | null>`rate_up_kbit`.as('rateUpKbit'),
      sql<string | null>`quota_bytes`.as('quotaBytes'),
      sql<number>`quota_epoch`.as('quotaEpoch'),
      // Migration 0013 (issue 17): which proxies the client may use while its own is down.
      sql<string>`fail_policy`.as('failPolicy'),
      sql<number[]>`backup_proxy_ids`.as('backupProxyIds'),
    ])
    .orderBy('id')
    .execute();
  const mappings: Mapping[] = [];
  const rejected: { mappingId: number; reason: string }[] = [];
  for (const { rateDownKbit, rateUpKbit, quotaBytes, quotaEpoch, failPolicy: policyRow, backupProxyIds: backupsRow, ...row } of mappingRows) {
    // The database's CHECKs and triggers hold the same rules; a row past them is left out, never rendered.
    const failPolicy = failPolicySchema.safeParse(policyRow);
    const backupProxyIds = backupProxyIdsSchema.safeParse(backupsRow);
    if (!failPolicy.success || !backupProxyIds.success) {
      rejected.push({ mappingId: row.id, reason: `invalid ${failPolicy.success ? 'backup_proxy_ids' : 'fail_policy'}` });
      continue;
    }
    // The database's CHECKs hold the same bounds; a row past them is left out, never rendered.
    const shaping = clientShapingSchema.safeParse({ rateDownKbit, rateUpKbit, quotaBytes, quotaEpoch });
    if (!shaping.success) {
      rejected.push({ mappingId: row.id, reason: `invalid shaping: ${shaping.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}` });
      continue;
    }
    const limited = shaping.data.rateDownKbit !== null || shaping.data.rateUpKbit !== null || shaping.data.quotaBytes !== null;
    const clientIp = ipv4Schema.safeParse(row.clientIp);
    const listenPort = portSchema.safeParse(row.listenPort);
    const macAddress = row.macAddress === null ? null : macAddressSchema.safeParse(row.macAddress);
    if (clientIp.success && listenPort.success && macAddress?.success !== false) {
      mappings.push({
        ...row,
        description: '',
        clientIp: clientIp.data,
        listenPort: listenPort.data,
        macAddress: macAddress?.data ?? null,
        shaping: limited ? shaping.data : null,
        failPolicy: failPolicy.data,
        backupProxyIds: backupProxyIds.data,
      });
    } else rejected.push({ mappingId: row.id, reason: `invalid ${!clientIp.success ? 'client_ip' : !listenPort.success ? 'listen_port' : 'mac_address'}` });
  }
  return { mappings, rejected };
}

/**
 * The settings row. One the domain schema refuses (written past the api, e.g. lanInterface `lo`)
 * is a refusal with the schema's words, like the agent's own checks: nothing of it is applied.
 * With settings read before (`previous`), those stand in and the refusal comes with them, so that
 * the proxies and mappings still apply: a bad settings row must not freeze the kill switch. Without
 * them the refusal is thrown: nothing is built.
 */
async function settingsOrStandIn(trx: Db, previous: DesiredState['settings'] | null): Promise<{ settings: DesiredState['settings']; settingsRefused?: readonly Refusal[] }> {
  const read = await readSettings(trx);
  if ('settings' in read) return { settings: read.settings };
  if (previous === null) throw new SettingsRefused(read.refusals);
  return { settings: previous, settingsRefused: read.refusals };
}
