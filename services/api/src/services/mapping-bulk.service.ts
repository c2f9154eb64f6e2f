import { promotedFailPolicy } from '../logic/fail-policy-input.js';
import { addTags, removeTags } from '@pgw/domain';
import type { MappingRow } from '@pgw/db';
import type { BulkMappingRequest, BulkMappingResult } from '../contract/types.js';
import { DomainError, invalid, notFound } from '../logic/domain-errors.js';
import { auditedMapping } from './mapping-dto.js';
import { requireHealthyProxy } from './health-gate.js';
import type { Actor, MappingFields, Prober, Publisher, Store } from './ports.js';

export interface MappingBulkServiceDeps {
  readonly store: Store;
  readonly prober: Prober;
  readonly publisher: Publisher;
  readonly probeWaitMarginMs: number;
}

/** The audit action of each bulk action: the one its single-mapping operation writes, so one search finds both. */
const AUDIT_ACTION: Record<BulkMappingRequest['action'], string> = {
  assignProxy: 'update',
  enable: 'enable',
  disable: 'disable',
  addTags: 'update',
  removeTags: 'update',
  delete: 'delete',
};

const sameList = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * What the action makes of one mapping: the fields to write, null when it stays as it is, or
 * 'delete'. A proxy assigned as primary leaves the backup list (the mapping's own proxy is never its backup;
 * promotedFailPolicy).
 */
function change(row: MappingRow, req: BulkMappingRequest): Partial<MappingFields> | null | 'delete' {
  switch (req.action) {
    case 'assignProxy':
      return row.proxyId === req.proxyId ? null : { proxyId: req.proxyId!, ...promotedFailPolicy(row, req.proxyId!) };
    case 'enable':
    case 'disable':
      return row.enabled === (req.action === 'enable') ? null : { enabled: req.action === 'enable' };
    case 'addTags': {
      const tags = addTags(row.tags, req.tags!);
      if (tags === null) throw invalid('tags', `the mapping of ${row.clientIp} would have more than 16 tags; nothing was changed`);
      return sameList(tags, row.tags) ? null : { tags };
    }
    case 'removeTags': {
      const tags = removeTags(row.tags, req.tags!);
      return sameList(tags, row.tags) ? null : { tags };
    }
    case 'delete':
      return 'delete';
  }
}

/**
 * One action on many mappings (groups and bulk actions, issue 17): all of it in one transaction with
 * one audit row per mapping that changes, then one change notice, so the agent reconciles once.
 * Rows that would use a proxy anew (an enabled row assigned another proxy, a disabled row enabled)
 * pass the health gate first, one probe per distinct proxy, decided on the rows as locked in the
 * transaction; a failure changes nothing.
 */
export class MappingBulkService {
  constructor(private readonly deps: MappingBulkServiceDeps) {}

  async run(req: BulkMappingRequest, actor: Actor): Promise<BulkMappingResult> {
    if (req.action === 'assignProxy' && req.proxyId === undefined) throw invalid('proxyId', 'choose the proxy to assign');
    if ((req.action === 'addTags' || req.action === 'removeTags') && !req.tags?.length) throw invalid('tags', 'name at least one tag');
    const { store } = this.deps;
    if (req.action === 'assignProxy' && !(await store.proxies.find(req.proxyId!))) throw notFound(`proxy ${req.proxyId}`, 'proxyId');
    const settings = await store.settings.load();
    const action = AUDIT_ACTION[req.action];
    const result = await store.transaction(async (repos) => {
      // Read and lock in one query inside the transaction: the health gate is decided on the rows as
      // they are written (a row another admin disabled meanwhile is probed before it is enabled).
      const rows = await repos.mappings.findManyForUpdate(req.ids);
      if (rows.length < req.ids.length) {
        const found = new Set(rows.map((r) => r.id));
        const missing = req.ids.filter((id) => !found.has(id));
        throw new DomainError('not_found', `${missing.length === 1 ? `mapping ${missing[0]}` : `${missing.length} of the mappings`} not found (deleted meanwhile?); nothing was changed`, 'ids', { missing });
      }
      // The probes run with the rows locked: an edit of them waits (at most one probe timeout per proxy).
      for (const proxyId of this.gatedProxies(rows, req)) {
        const proxy = await repos.proxies.find(proxyId);
        if (!proxy) throw notFound(`proxy ${proxyId}`, 'proxyId');
        await requireHealthyProxy(this.deps.prober, proxy, settings.probeTimeoutMs + this.deps.probeWaitMarginMs);
      }
      let changed = 0;
      for (const before of rows) {
        const id = before.id;
        const fields = change(before, req);
        if (fields === null) continue;
        if (fields === 'delete') {
          await repos.mappings.remove(id);
          await repos.audit.write(actor, { action, entityType: 'mapping', entityId: id, before: auditedMapping(before), after: null });
        } else {
          const after = await repos.mappings.update(id, fields);
          await repos.audit.write(actor, { action, entityType: 'mapping', entityId: id, before: auditedMapping(before), after: auditedMapping(after) });
        }
        changed++;
      }
      return { action: req.action, changed, unchanged: req.ids.length - changed };
    });
    if (result.changed > 0) await this.deps.publisher.publish({ type: 'mapping.changed', mappingId: null, action: req.action === 'delete' ? 'deleted' : 'updated' });
    return result;
  }

  /** The proxies enabled rows would newly use: each is probed once before anything is written. */
  private gatedProxies(rows: readonly MappingRow[], req: BulkMappingRequest): Set<number> {
    if (req.action === 'assignProxy') return new Set(rows.some((r) => r.enabled && r.proxyId !== req.proxyId) ? [req.proxyId!] : []);
    if (req.action === 'enable') return new Set(rows.filter((r) => !r.enabled).map((r) => r.proxyId));
    return new Set();
  }
}
