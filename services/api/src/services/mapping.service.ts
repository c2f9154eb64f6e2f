import type { Settings } from '@pgw/domain';
import type { MappingRow } from '@pgw/db';
import type { MappingCreate, MappingUpdate } from '../contract/types.js';
import { conflict, notFound } from '../logic/domain-errors.js';
import { resolveFailPolicy } from '../logic/fail-policy-input.js';
import { needsProbe } from '../logic/health-gate-rule.js';
import { validClientIp, validListenPort, validMacAddress, validQuotaBytes, validRateKbit } from '../logic/mapping-rules.js';
import { lowestFreePort } from '../logic/port-allocation.js';
import { auditedMapping } from './mapping-dto.js';
import { requireHealthyProxy } from './health-gate.js';
import type { Actor, MappingFields, MappingRepository, Prober, Publisher, Repositories, Store } from './ports.js';
import { refuseOverCapacity } from '../logic/mapping-capacity.js';

/** A create or edit as the operator sends it (API_SPEC.yaml); what is absent is kept (edit) or defaulted (create). */
type MappingInput = MappingCreate | MappingUpdate;

/** The fields to store; a listen port of null is allocated inside the write transaction (placePort). */
type ResolvedFields = Omit<MappingFields, 'listenPort'> & { listenPort: number | null };

export interface MappingServiceDeps {
  readonly store: Store;
  readonly prober: Prober;
  readonly publisher: Publisher;
  /** Added to the probe timeout of the settings while the gate waits for the health service. */
  readonly probeWaitMarginMs: number;
}

/** A port held by another mapping, named by what the console shows (its client), never by an internal id. */
async function checkPortFree(mappings: MappingRepository, listenPort: number, selfId: number | undefined): Promise<void> {
  const other = await mappings.findByPort(listenPort);
  if (other && other.id !== selfId) throw conflict('listenPort', `port ${listenPort} is already used by the mapping of ${other.clientIp}`);
}

/**
 * Creating, editing and deleting mappings: validation against the settings and the other mappings,
 * the health gate, port allocation under the listen-port lock, the write with its audit row in one
 * transaction, and the change notice after the commit.
 */
export class MappingService {
  constructor(private readonly deps: MappingServiceDeps) {}

  /** Returns the new mapping's id. */
  async create(input: MappingCreate, actor: Actor): Promise<number> {
    const { store } = this.deps;
    const settings = await store.settings.load();
    const { fields, proxy } = await this.resolve(store, settings, input, null);
    await requireHealthyProxy(this.deps.prober, proxy, this.probeTimeout(settings));
    const row = await store.transaction(async (repos) => {
      // Checked again against the settings as they stand: another admin may have narrowed the LAN
      // or the port range during the probe (that change counted only the mappings stored by then).
      const current = await lockedSettings(repos);
      const checked = await this.resolve(repos, current, input, null);
      refuseOverCapacity((await repos.mappings.usedPorts()).length, 1);
      const inserted = await repos.mappings.insert(await placePort(repos.mappings, current, checked.fields, undefined));
      await repos.audit.write(actor, { action: 'create', entityType: 'mapping', entityId: inserted.id, before: null, after: auditedMapping(inserted) });
      return inserted;
    });
    await this.deps.publisher.publish({ type: 'mapping.changed', mappingId: row.id, action: 'created' });
    return row.id;
  }

  /**
   * An edit, or an enable/disable (action names it in the audit log). The health gate may take
   * seconds, and another admin may change the mapping meanwhile: the edit is applied to the row as
   * locked in the write, so only the fields it names change (their disable, MAC pin or
   * private-destination deny stays), and is refused if that row now needs a probe this edit did not run.
   */
  async edit(id: number, input: MappingUpdate, action: 'update' | 'enable' | 'disable', actor: Actor): Promise<void> {
    const { store } = this.deps;
    const existing = await store.mappings.find(id);
    if (!existing) throw notFound(`mapping ${id}`);
    const settings = await store.settings.load();
    const { fields, proxy } = await this.resolve(store, settings, input, existing);
    const probed = needsProbe(existing, fields) ? proxy.id : null;
    if (probed !== null) await requireHealthyProxy(this.deps.prober, proxy, this.probeTimeout(settings));
    await store.transaction(async (repos) => {
      // The listen-port lock, the settings', then the row's, in the order an import takes them (it
      // locks every row under the first two): another order deadlocks the two, and Postgres aborts one.
      const current = await lockedSettings(repos);
      const before = await repos.mappings.findForUpdate(id);
      if (!before) throw notFound(`mapping ${id}`);
      const locked = await this.resolve(repos, current, input, before);
      if (needsProbe(before, locked.fields) && locked.fields.proxyId !== probed) {
        throw conflict(undefined, `the mapping of ${before.clientIp} was changed by another edit while this one waited; reload it and send the edit again`);
      }
      const updated = await repos.mappings.update(id, await placePort(repos.mappings, current, locked.fields, id));
      await repos.audit.write(actor, { action, entityType: 'mapping', entityId: id, before: auditedMapping(before), after: auditedMapping(updated) });
    });
    await this.deps.publisher.publish({ type: 'mapping.changed', mappingId: id, action: 'updated' });
  }

  /**
   * A fresh byte count for the client: the epoch goes up and the agent replaces the kernel's quota
   * object, lifting a quota_exceeded block. A mapping without a quota has nothing to reset.
   */
  async resetQuota(id: number, actor: Actor): Promise<void> {
    await this.deps.store.transaction(async (repos) => {
      const before = await repos.mappings.findForUpdate(id);
      if (!before) throw notFound(`mapping ${id}`);
      if (before.quotaBytes === null) throw conflict('quotaBytes', `the mapping of ${before.clientIp} has no quota to reset`);
      const after = await repos.mappings.update(id, { quotaEpoch: before.quotaEpoch + 1 });
      await repos.audit.write(actor, { action: 'quota_reset', entityType: 'mapping', entityId: id, before: auditedMapping(before), after: auditedMapping(after) });
    });
    await this.deps.publisher.publish({ type: 'mapping.changed', mappingId: id, action: 'updated' });
  }

  async remove(id: number, actor: Actor): Promise<void> {
    await this.deps.store.transaction(async (repos) => {
      const before = await repos.mappings.findForUpdate(id);
      if (!before) throw notFound(`mapping ${id}`);
      await repos.mappings.remove(id);
      await repos.audit.write(actor, { action: 'delete', entityType: 'mapping', entityId: id, before: auditedMapping(before), after: null });
    });
    await this.deps.publisher.publish({ type: 'mapping.changed', mappingId: id, action: 'deleted' });
  }

  private probeTimeout(settings: Settings): number {
    return settings.probeTimeoutMs + this.deps.probeWaitMarginMs;
  }

  /**
   * Validates input against the settings and the other mappings, naming the field at fault; returns
   * the fields to store (what the input leaves out kept from `existing`) and the proxy they use.
   */
  private async resolve(repos: Pick<Repositories, 'mappings' | 'proxies'>, settings: Settings, input: MappingInput, existing: MappingRow | null) {
    const { mappings, proxies } = repos;
    const clientIp = input.clientIp === undefined ? existing!.clientIp : validClientIp(input.clientIp, settings);
    if (input.clientIp !== undefined) {
      const other = await mappings.findByClientIp(clientIp);
      if (other && other.id !== existing?.id) throw conflict('clientIp', `client ${clientIp} already has a mapping; edit that one instead`);
    }
    const proxyId = input.proxyId ?? existing!.proxyId;
    const proxy = await proxies.find(proxyId);
    if (!proxy) throw notFound(`proxy ${proxyId}`, 'proxyId');
    let listenPort: number | null = null;
    if (input.listenPort !== undefined) {
      listenPort = validListenPort(input.listenPort, settings);
      await checkPortFree(mappings, listenPort, existing?.id);
    } else if (existing) {
      listenPort = existing.listenPort;
    }
    const fields: ResolvedFields = {
      clientIp,
      proxyId,
      listenPort,
      enabled: input.enabled ?? existing?.enabled ?? true,
      description: input.description ?? existing?.description ?? '',
      macAddress: input.macAddress === undefined ? (existing?.macAddress ?? null) : input.macAddress === null ? null : validMacAddress(input.macAddress),
      privateDestinations: input.privateDestinations === undefined ? (existing?.privateDestinations ?? null) : input.privateDestinations,
      ...(await resolveFailPolicy(input, existing, proxyId, async (id) => (await proxies.find(id))?.name)),
      // Limits and quota left absent are kept (edit) or unlimited (create); null lifts them.
      rateDownKbit: input.rateDownKbit === undefined ? (existing?.rateDownKbit ?? null) : validRateKbit(input.rateDownKbit, 'rateDownKbit'),
      rateUpKbit: input.rateUpKbit === undefined ? (existing?.rateUpKbit ?? null) : validRateKbit(input.rateUpKbit, 'rateUpKbit'),
      quotaBytes: validQuotaBytes(input.quotaBytes === undefined ? (existing?.quotaBytes ?? null) : input.quotaBytes, 'quotaBytes'),
      // Checked by the spec (pattern, at most 16, no repeats) and by migration 0012's CHECK.
      tags: input.tags === undefined ? (existing?.tags ?? []) : [...input.tags],
    };
    return { fields, proxy };
  }
}

/**
 * The settings a write is checked against, locked until it commits (a settings change waits for it,
 * then counts it), taken after the listen-port lock as an import takes them.
 */
async function lockedSettings(repos: Repositories): Promise<Settings> {
  await repos.mappings.lockListenPorts();
  return repos.settings.load({ lock: true });
}

/**
 * Inside the write transaction, under the listen-port lock (lockedSettings takes it): re-checks a
 * port the user chose (another admin may have taken it during the health probe) or allocates the
 * lowest free one. A full range is not the fault of a field the user left empty, so that error
 * names no field.
 */
async function placePort(mappings: MappingRepository, settings: Settings, fields: ResolvedFields, selfId: number | undefined): Promise<MappingFields> {
  if (fields.listenPort !== null) {
    await checkPortFree(mappings, fields.listenPort, selfId);
    return { ...fields, listenPort: fields.listenPort };
  }
  const free = lowestFreePort(settings.forwarderPortMin, settings.forwarderPortMax, await mappings.usedPorts());
  if (free === null) throw conflict(undefined, `no free forwarder port left in ${settings.forwarderPortMin}-${settings.forwarderPortMax}; widen the range in Configuration`);
  return { ...fields, listenPort: free };
}
