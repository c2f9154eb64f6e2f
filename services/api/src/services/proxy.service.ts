import type { PasswordSealer } from '@pgw/crypto';
import { ProxyHostPolicy } from '@pgw/domain';
import type { ProbeResult } from '@pgw/events';
import type { Proxy, ProxyCreate, ProxyUpdate } from '../contract/types.js';
import { conflict, notFound } from '../logic/domain-errors.js';
import { type EndpointChange, endpointFromInput, refuseCredentialMove, refuseProxyName, refuseUncarriableCredentials } from '../logic/proxy-input.js';
import { auditedProxy, toProxyDto } from './proxy-dto.js';
import type { Actor, Prober, ProxyFields, Publisher, Repositories, Store } from './ports.js';

export interface ProxyServiceDeps {
  readonly store: Store;
  readonly prober: Prober;
  readonly publisher: Publisher;
  /** Seals proxy passwords to PGW_SECRET_PUBLIC_KEY: the api cannot open what it stores. */
  readonly sealer: PasswordSealer;
  /** PGW_PROXY_ALLOW_CIDRS: networks where proxies may be saved although loopback, link-local or LAN. */
  readonly allowedNetworks: readonly string[];
  readonly probeWaitMarginMs: number;
}

/** Creating, editing, deleting and probing proxies; each write is audited in its transaction and noticed after it. */
export class ProxyService {
  constructor(private readonly deps: ProxyServiceDeps) {}

  async create(input: ProxyCreate, actor: Actor): Promise<Proxy> {
    const { store } = this.deps;
    refuseProxyName(input.name);
    const endpoint = endpointFromInput(input, 'create', await this.hosts());
    refuseUncarriableCredentials(endpoint, input);
    if (await store.proxies.findByName(input.name)) throw conflict('name', `a proxy named "${input.name}" already exists`);
    const row = await store.transaction(async (repos) => {
      await this.judgeUnderLockedLan(repos, input, 'create');
      const fields = this.storedFields(endpoint);
      const inserted = await repos.proxies.insert({
        name: input.name,
        protocol: fields.protocol!,
        host: fields.host!,
        port: fields.port!,
        username: fields.username ?? null,
        passwordEnc: fields.passwordEnc ?? null,
        ...(input.handshakeMode !== undefined ? { handshakeMode: input.handshakeMode } : {}),
        ...(input.exitDiffers !== undefined ? { exitDiffers: input.exitDiffers } : {}),
      });
      await repos.audit.write(actor, { action: 'create', entityType: 'proxy', entityId: inserted.id, before: null, after: auditedProxy(inserted) });
      return inserted;
    });
    await this.deps.publisher.publish({ type: 'proxy.changed', proxyId: row.id, action: 'created' });
    return toProxyDto(row, 0);
  }

  async update(id: number, input: ProxyUpdate, actor: Actor): Promise<Proxy> {
    const { store } = this.deps;
    if (input.name !== undefined) refuseProxyName(input.name);
    const endpoint = endpointFromInput(input, 'update', await this.hosts());
    if (input.name !== undefined) {
      const other = await store.proxies.findByName(input.name);
      if (other && other.id !== id) throw conflict('name', `a proxy named "${input.name}" already exists`);
    }
    const { row, mappingCount } = await store.transaction(async (repos) => {
      const before = await repos.proxies.find(id, { lock: true });
      if (!before) throw notFound(`proxy ${id}`);
      await this.judgeUnderLockedLan(repos, input, 'update');
      refuseCredentialMove(before, endpoint);
      refuseUncarriableCredentials(endpoint, input, before);
      const fields = {
        ...this.storedFields(endpoint),
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.handshakeMode !== undefined ? { handshakeMode: input.handshakeMode } : {}),
        ...(input.exitDiffers !== undefined ? { exitDiffers: input.exitDiffers } : {}),
      };
      const username = 'username' in fields ? fields.username : before.username;
      const hasPassword = 'passwordEnc' in fields ? fields.passwordEnc !== null : before.hasPassword;
      if (hasPassword && !username) throw conflict('password', 'a password needs a username');
      const updated = await repos.proxies.update(id, fields);
      await repos.audit.write(actor, { action: 'update', entityType: 'proxy', entityId: id, before: auditedProxy(before), after: auditedProxy(updated) });
      return { row: updated, mappingCount: await repos.mappings.countForProxy(id) };
    });
    await this.deps.publisher.publish({ type: 'proxy.changed', proxyId: id, action: 'updated' });
    return toProxyDto(row, mappingCount);
  }

  /** Refused while a mapping uses the proxy: the operator moves or deletes those first. */
  async remove(id: number, actor: Actor): Promise<void> {
    await this.deps.store.transaction(async (repos) => {
      const before = await repos.proxies.find(id, { lock: true });
      if (!before) throw notFound(`proxy ${id}`);
      const used = await repos.mappings.countForProxy(id);
      if (used > 0) throw conflict(undefined, `proxy "${before.name}" is used by ${used === 1 ? '1 mapping' : `${used} mappings`}; move or delete ${used === 1 ? 'it' : 'them'} first`, { mappingCount: used });
      await repos.proxies.remove(id);
      await repos.audit.write(actor, { action: 'delete', entityType: 'proxy', entityId: id, before: auditedProxy(before), after: null });
    });
    await this.deps.publisher.publish({ type: 'proxy.changed', proxyId: id, action: 'deleted' });
  }

  /**
   * An on-demand probe through the health service; its result, good or bad, is the answer. Audited
   * with its outcome, answered or not: the health service dials the proxy with its credentials.
   */
  async check(id: number, actor: Actor): Promise<ProbeResult> {
    const { store } = this.deps;
    if (!(await store.proxies.find(id))) throw notFound(`proxy ${id}`);
    const settings = await store.settings.load();
    let outcome: Record<string, unknown> = { ok: false, error: 'no answer from the health service' };
    try {
      const result = await this.deps.prober.probe(id, settings.probeTimeoutMs + this.deps.probeWaitMarginMs);
      outcome = { ok: result.ok, latencyMs: result.latencyMs, exitIp: result.exitIp, error: result.error };
      return result;
    } finally {
      // Recorded whatever became of the asker's session meanwhile: the probe has run, and this row changes nothing.
      await store.audit.write({ ...actor, tokenVersion: null }, { action: 'check', entityType: 'proxy', entityId: id, before: null, after: outcome });
    }
  }

  /** Where proxies may be, as of the settings now (the LAN prefix) and the operator's allowed networks. */
  private async hosts(): Promise<ProxyHostPolicy> {
    return new ProxyHostPolicy({ lanCidr: (await this.deps.store.settings.load()).lanCidr, allowedNetworks: this.deps.allowedNetworks });
  }

  /**
   * The endpoint judged again in the write, under the settings row locked until it commits: a LAN
   * change committed since the first judgement is seen, and one still to come waits and then counts
   * this proxy (SettingsService refuses a LAN that takes a stored proxy in).
   */
  private async judgeUnderLockedLan(repos: Repositories, input: ProxyCreate | ProxyUpdate, mode: 'create' | 'update'): Promise<void> {
    const { lanCidr } = await repos.settings.load({ lock: true });
    endpointFromInput(input, mode, new ProxyHostPolicy({ lanCidr, allowedNetworks: this.deps.allowedNetworks }));
  }

  /** Endpoint input -> stored columns; the password is sealed here and never kept in plaintext. */
  private storedFields(change: EndpointChange): Partial<ProxyFields> {
    const { password, ...rest } = change;
    return { ...rest, ...(password === undefined ? {} : { passwordEnc: password === null ? null : this.deps.sealer.seal(password) }) };
  }
}
