import type { ImportPreview } from '../contract/types.js';
import { DomainError } from '../logic/domain-errors.js';
import { importPlanVersion, planImport } from '../logic/mapping-import.js';
import type { Store } from './ports.js';

/** The fields an import row sets, as the console shows them side by side. */
type Shown = ImportPreview['added'][number]['after'];

/**
 * The CSV import's dry run (issue 17): what the file would do, planned exactly as the import plans it
 * (the same planImport against the same snapshot) and nothing written. A file with a rejected row
 * would be refused as a whole, so then only the rejected rows are listed (the first of them, with
 * how many there are), each with its line, column and reason.
 */
export class MappingImportPreviewService {
  constructor(private readonly deps: { readonly store: Store }) {}

  async preview(text: string): Promise<ImportPreview> {
    const { store } = this.deps;
    const [settings, proxies, mappings] = await Promise.all([store.settings.load(), store.proxies.names(), store.mappings.rows()]);
    const nameOf = new Map(proxies.map((p) => [p.id, p.name]));
    const byId = new Map(mappings.map((m) => [m.id, m]));
    let planned;
    try {
      planned = planImport(text, { settings, proxies, mappings });
    } catch (error) {
      if (!(error instanceof DomainError)) throw error;
      const details = error.details as { rows?: { line: number; field: string; message: string }[]; count?: number } | undefined;
      // Problems of the whole file (empty, no header, unknown column) are no row's: the 400 says it.
      if (!details?.rows) throw error;
      const rejected = details.rows.map((r) => ({ line: r.line, field: r.field, reason: r.message }));
      return { added: [], changed: [], unchanged: 0, rejected, rejectedTotal: details.count ?? rejected.length, version: null };
    }
    const shown = (m: { clientIp: string; proxyId: number; listenPort: number; enabled: boolean; description: string; macAddress?: string | null; tags?: readonly string[] }): Shown => ({
      clientIp: m.clientIp, proxyName: nameOf.get(m.proxyId) ?? String(m.proxyId), listenPort: m.listenPort, enabled: m.enabled, description: m.description, macAddress: m.macAddress ?? null, tags: [...(m.tags ?? [])],
    });
    const preview: ImportPreview = { added: [], changed: [], unchanged: 0, rejected: [], version: importPlanVersion(planned, byId) };
    for (const row of planned) {
      if (row.change === 'unchanged') preview.unchanged++;
      else if (row.change === 'create') preview.added.push({ line: row.line, before: null, after: shown(row) });
      else {
        const before = byId.get(row.existingId!)!;
        // A file without the mac_address or tags column leaves them as stored.
        const after = { ...row, macAddress: row.macAddress === undefined ? before.macAddress : row.macAddress, tags: row.tags ?? before.tags };
        preview.changed.push({ line: row.line, before: shown(before), after: shown(after) });
      }
    }
    return preview;
  }
}
