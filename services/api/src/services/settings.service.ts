import { checkUrlProblem, dnsUpstreamProblem, lanNetworkProblem, ProxyHostPolicy, type Settings, settingsSchema, usageRetentionIssues } from '@pgw/domain';
import { conflict, invalid, stale } from '../logic/domain-errors.js';
import { ifMatchNames, settingsVersion } from '../logic/settings-version.js';
import type { Actor, Publisher, Repositories, Store } from './ports.js';

/**
 * Changing the operator settings: never so that a stored mapping would fall outside the LAN or the
 * port range, nor a stored proxy inside the LAN.
 */
export class SettingsService {
  constructor(private readonly deps: { readonly store: Store; readonly publisher: Publisher; readonly allowedNetworks: readonly string[] }) {}

  /**
   * Returns the settings as stored. `ifMatch`: the version (settingsVersion) the change was built
   * on; another one stored meanwhile refuses it (412), where the change would put back whatever the
   * other admin changed. Without it (scripts, the CLI) the change is taken as before.
   */
  async change(input: unknown, actor: Actor, ifMatch?: string): Promise<Settings> {
    const parsed = settingsSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.');
      throw invalid(field, `${field}: ${issue.message}`);
    }
    const next = parsed.data;
    const urlProblem = checkUrlProblem(next.checkUrl);
    if (urlProblem !== null) throw invalid('checkUrl', `checkUrl: ${urlProblem}`);
    const lanProblem = lanNetworkProblem(next.lanCidr);
    if (lanProblem !== null) throw invalid('lanCidr', lanProblem);
    // What the UPDATE left: a field the change leaves out keeps its stored value, and the answer
    // (and the audit) say what is in force, not only what was sent.
    const stored = await this.deps.store.transaction(async (repos) => {
      // Locked: two saves built on the same version cannot both pass the check below.
      const before = await repos.settings.load({ lock: true });
      if (ifMatch !== undefined && !ifMatchNames(ifMatch, settingsVersion(before))) {
        throw stale('the settings were changed by someone else since you loaded them; load them again and make your change on top');
      }
      // A retention left out of the change keeps its stored value: the order of the histories holds against it too.
      const retention = usageRetentionIssues({ ...before, ...next })[0];
      if (retention) throw invalid(retention.path.join('.'), `${retention.path.join('.')}: ${retention.message}`);
      // A dnsUpstream left out is checked against the new LAN too: stored inside it, every later load would fail.
      if (next.dnsUpstream === undefined && before.dnsUpstream != null) {
        const problem = dnsUpstreamProblem(before.dnsUpstream, next.lanCidr);
        if (problem !== null) throw conflict('lanCidr', `lanCidr ${next.lanCidr}: the stored dnsUpstream ${problem}; change dnsUpstream first or with it`);
      }
      const outside = await repos.mappings.countOutside(next.lanCidr, next.forwarderPortMin, next.forwarderPortMax);
      if (outside.outsideCidr > 0) throw conflict('lanCidr', `${outside.outsideCidr} mapping(s) have a client outside ${next.lanCidr}; change or delete them first`);
      if (outside.atNetworkEnds > 0) {
        throw conflict('lanCidr', `${outside.atNetworkEnds} mapping(s) have a client at the network or broadcast address of ${next.lanCidr}; change or delete them first`);
      }
      if (outside.outsideRange > 0) {
        throw conflict('forwarderPortMin', `${outside.outsideRange} mapping(s) listen outside ${next.forwarderPortMin}-${next.forwarderPortMax}; change or delete them first`);
      }
      if (next.lanCidr !== before.lanCidr) await this.refuseProxiesInside(repos, before.lanCidr, next.lanCidr);
      await repos.settings.save(next);
      const after = await repos.settings.load();
      await repos.audit.write(actor, { action: 'update', entityType: 'settings', entityId: null, before, after });
      return after;
    });
    await this.deps.publisher.publish({ type: 'config.changed' });
    return stored;
  }

  /**
   * A proxy the new LAN would take in (refused on save, docs/SECURITY.md "Destinations"): every dial
   * to it would then be refused as proxy_lan, and its clients blocked by a save that answered 200.
   * One already inside the old LAN (stored before that rule) does not hold up other changes.
   */
  private async refuseProxiesInside(repos: Repositories, lanBefore: string, lanNext: string): Promise<void> {
    const [before, next] = [lanBefore, lanNext].map((lanCidr) => new ProxyHostPolicy({ lanCidr, allowedNetworks: this.deps.allowedNetworks }));
    const inside = (lan: ProxyHostPolicy | undefined, host: string) => lan!.problem(host)?.reason === 'proxy_lan';
    const taken = (await repos.proxies.hosts()).filter((p) => inside(next, p.host) && !inside(before, p.host));
    if (taken.length === 0) return;
    const named = taken.slice(0, 5).map((p) => `${p.name} (${p.host})`).join(', ');
    throw conflict('lanCidr', `lanCidr ${lanNext} takes in ${taken.length} proxy host(s): ${named}${taken.length > 5 ? ', ...' : ''}; change or delete them first`);
  }
}
