import type { MappingRow } from '@pgw/db';
import { formatCsv } from '@pgw/domain/csv';
import { EXPORT_COLUMNS, formatTagsCell, type ImportSnapshot, importPlanVersion, planImport } from '../logic/mapping-import.js';
import { conflict, stale } from '../logic/domain-errors.js';
import { refuseOverCapacity } from '../logic/mapping-capacity.js';
import { ifMatchNames } from '../logic/settings-version.js';
import { needsProbe } from '../logic/health-gate-rule.js';
import { auditedMapping } from './mapping-dto.js';
import { requireHealthyProxy } from './health-gate.js';
import type { Actor, Prober, Publisher, Repositories, Store } from './ports.js';

export interface ImportCounts {
  created: number;
  updated: number;
  unchanged: number;
}

export interface MappingCsvServiceDeps {
  readonly store: Store;
  readonly prober: Prober;
  readonly publisher: Publisher;
  readonly probeWaitMarginMs: number;
}

/** What an import is planned against; the full rows, because the audit log keeps every field of them. */
async function snapshot(repos: Repositories): Promise<Omit<ImportSnapshot, 'mappings'> & { mappings: MappingRow[] }> {
  const [settings, proxies, mappings] = await Promise.all([repos.settings.load(), repos.proxies.names(), repos.mappings.rows()]);
  return { settings, proxies, mappings };
}

/**
 * The snapshot the import writes from, inside its transaction: the rows and the settings locked, so
 * that a change of them committed meanwhile (a bulk assign that held its rows while it probed, an
 * edit, a settings save narrowing the LAN) is read as it is and not written over with the file's
 * stale view. One statement at a time: they share the transaction's connection.
 */
async function lockedSnapshot(repos: Repositories): Promise<Omit<ImportSnapshot, 'mappings'> & { mappings: MappingRow[] }> {
  const settings = await repos.settings.load({ lock: true });
  const mappings = await repos.mappings.rowsForUpdate();
  return { settings, proxies: await repos.proxies.names(), mappings };
}

/** The same stored mapping in every field an import or an admin may change. */
function sameMapping(a: MappingRow | undefined, b: MappingRow): boolean {
  return a !== undefined && JSON.stringify(auditedMapping(a)) === JSON.stringify(auditedMapping(b));
}

/** The mappings as a CSV file, and a CSV file applied as one all-or-nothing change. */
export class MappingCsvService {
  constructor(private readonly deps: MappingCsvServiceDeps) {}

  async exportCsv(): Promise<string> {
    const rows = await this.deps.store.mappings.listAll();
    return formatCsv(EXPORT_COLUMNS, rows.map((m) => [m.clientIp, m.proxyName, m.listenPort, m.enabled, m.description, m.macAddress ?? '', m.rateDownKbit ?? '', m.rateUpKbit ?? '', m.quotaBytes ?? '', formatTagsCell(m.tags)]));
  }

  /**
   * Every row is checked before anything is written; each proxy an enabled row newly uses or
   * re-enables must pass a probe (one per proxy); unchanged rows are not written at all. The file
   * is planned again in the write; it is refused (409) if a row changed meanwhile now needs a probe
   * of a proxy it did not run.
   */
  async importCsv(text: string, actor: Actor, ifMatch?: string): Promise<ImportCounts> {
    const { store } = this.deps;
    const first = await snapshot(store);
    const draft = planImport(text, first);
    if (ifMatch !== undefined && !ifMatchNames(ifMatch, importPlanVersion(draft, new Map(first.mappings.map((m) => [m.id, m]))))) {
      throw stale('the mappings this file changes were changed since its preview (or the file was): preview it again, then import');
    }
    const gated = new Set(draft.filter((p) => p.enabled && p.change !== 'unchanged').map((p) => p.proxyId));
    const timeoutMs = first.settings.probeTimeoutMs + this.deps.probeWaitMarginMs;
    for (const proxy of first.proxies.filter((p) => gated.has(p.id))) await requireHealthyProxy(this.deps.prober, proxy, timeoutMs);
    const counts = await store.transaction(async (repos) => {
      // Planned again under the listen-port lock: another admin may have saved during the probes.
      await repos.mappings.lockListenPorts();
      const current = await lockedSnapshot(repos);
      const before = new Map(current.mappings.map((m) => [m.id, m]));
      const plan = planImport(text, current);
      // A row the file changes that another admin changed while the import waited (its probes, their
      // row locks): writing the file's row would undo that change unseen. Export again instead.
      const firstById = new Map(first.mappings.map((m) => [m.id, m]));
      const overtaken = plan.find((p) => p.existingId !== null && p.change !== 'unchanged' && !sameMapping(firstById.get(p.existingId), before.get(p.existingId)!));
      if (overtaken !== undefined) {
        throw conflict(undefined, `the mapping of ${overtaken.clientIp} was changed by another edit while the import waited for its probes; export again and import the file anew`);
      }
      // A row the file meant as an update whose mapping another admin deleted meanwhile: planned
      // now as a new mapping, it would bring back a client that was cut off on purpose.
      const draftIds = new Map(draft.map((p) => [p.clientIp, p.existingId]));
      const deleted = plan.find((p) => p.existingId === null && (draftIds.get(p.clientIp) ?? null) !== null);
      if (deleted !== undefined) {
        throw conflict(undefined, `the mapping of ${deleted.clientIp} was deleted by another edit while the import waited for its probes; export again and import the file anew`);
      }
      // A row another admin changed meanwhile may now need a probe this import did not run (as edit() refuses it).
      const unprobed = plan.find((p) => p.change !== 'unchanged' && needsProbe(p.existingId === null ? null : before.get(p.existingId)!, p) && !gated.has(p.proxyId));
      if (unprobed !== undefined) {
        throw conflict(undefined, `the mapping of ${unprobed.clientIp} was changed by another edit while the import waited for its probes; export again and import the file anew`);
      }
      refuseOverCapacity(current.mappings.length, plan.filter((p) => p.existingId === null).length);
      const counts: ImportCounts = { created: 0, updated: 0, unchanged: 0 };
      for (const { line: _line, existingId, change, ...fields } of plan) {
        if (change === 'unchanged') {
          counts.unchanged++;
        } else if (existingId === null) {
          const row = await repos.mappings.insert(fields);
          await repos.audit.write(actor, { action: 'import', entityType: 'mapping', entityId: row.id, before: null, after: auditedMapping(row) });
          counts.created++;
        } else {
          const row = await repos.mappings.update(existingId, fields);
          await repos.audit.write(actor, { action: 'import', entityType: 'mapping', entityId: row.id, before: auditedMapping(before.get(existingId)!), after: auditedMapping(row) });
          counts.updated++;
        }
      }
      return counts;
    });
    if (counts.created + counts.updated > 0) await this.deps.publisher.publish({ type: 'mapping.changed', mappingId: null, action: 'imported' });
    return counts;
  }
}
