import { type Db, type DesiredProxy, type DesiredState, loadSettings } from '@pgw/db';
import { ZodError } from 'zod';
import { SettingsRefused } from '../build-policy.js';
import { type Mapping, ipv4Schema, macAddressSchema, portSchema } from '@pgw/domain';
import { sql } from 'kysely';

/**
 * The agent's read of the desired state: a fingerprint of every row it renders from, and the
 * rows themselves only when the fingerprint differs from `known`. Both come from one
 * repeatable-read snapshot, so the fingerprint always describes exactly the rows returned with
 * it. Columns the agent does not use (descriptions, timestamps of mappings) are not read.
 */
export async function loadDesiredStateIfChanged(db: Db, known: string | null): Promise<{ fingerprint: string; state: DesiredState | null }> {
  return db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      const { rows } = await sql<{ fingerprint: string }>`
        SELECT md5(concat_ws('|',
          (SELECT row_to_json(s)::text FROM settings s WHERE id = 1),
          (SELECT string_agg(concat_ws(',', id, host, port, status), ';' ORDER BY id) FROM proxies),
          (SELECT string_agg(concat_ws(',', id, client_ip, proxy_id, listen_port, enabled, mac_address), ';' ORDER BY id) FROM mappings)
        )) AS fingerprint`.execute(trx);
      const fingerprint = rows[0]!.fingerprint;
      if (fingerprint === known) return { fingerprint, state: null };
      const settings = await loadSettings(trx).catch(refuseInvalidSettings);
      const proxies: DesiredProxy[] = await trx.selectFrom('proxies').select(['id', 'protocol', 'host', 'port', 'status']).orderBy('id').execute() as DesiredProxy[];
      const mappingRows = await trx.selectFrom('mappings').select(['id', 'clientIp', 'proxyId', 'listenPort', 'enabled', 'macAddress']).orderBy('id').execute();
      const mappings: Mapping[] = [];
      const rejected: { mappingId: number; reason: string }[] = [];
      for (const row of mappingRows) {
        const clientIp = ipv4Schema.safeParse(row.clientIp);
        const listenPort = portSchema.safeParse(row.listenPort);
        const macAddress = row.macAddress === null ? null : macAddressSchema.safeParse(row.macAddress);
        if (clientIp.success && listenPort.success && macAddress?.success !== false) {
          mappings.push({ ...row, description: '', clientIp: clientIp.data, listenPort: listenPort.data, macAddress: macAddress?.data ?? null });
        } else rejected.push({ mappingId: row.id, reason: `invalid ${!clientIp.success ? 'client_ip' : !listenPort.success ? 'listen_port' : 'mac_address'}` });
      }
      return { fingerprint, state: { settings, proxies, mappings, rejected } };
    });
}

/**
 * A settings row the domain schema refuses (written past the api, e.g. lanInterface `lo`) is a
 * refusal with the schema's words, like the agent's own checks: nothing of it is applied.
 */
function refuseInvalidSettings(error: unknown): never {
  if (!(error instanceof ZodError)) throw error;
  throw new SettingsRefused(error.issues.map((issue) => ({ subject: issue.path.join('.') || 'settings', reason: `${issue.path.join('.') || 'settings'}: ${issue.message}` })));
}
