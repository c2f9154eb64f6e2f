import { GatewayAddresses } from '@pgw/domain';
/**
 * Exit-IP alarms (issue 17). `gateway_address`: the check URL saw one of the gateway's own addresses,
 * so the traffic did not leave through an upstream proxy ("proxy does not proxy": a transparent
 * relay on the gateway itself, or an endpoint that forwards without proxying). `proxy_address`: the
 * check URL saw the address the proxy was dialed at although the proxy is set to exit elsewhere
 * (`exitDiffers`: a pool or rotating gateway, a chain): it does not proxy onwards. Only when set: a
 * plain proxy server exits from its own address by design. `shared`: another proxy leaves from the
 * same address, so clients pinned to "different" proxies share one exit.
 */
export const EXIT_IP_ALARM_KINDS = ['gateway_address', 'proxy_address', 'shared'] as const;
export type ExitIpAlarmKind = (typeof EXIT_IP_ALARM_KINDS)[number];

export interface ExitIpAlarm {
  readonly kind: ExitIpAlarmKind;
  readonly exitIp: string;
  /** `shared`: the other proxies with this exit IP, by id. */
  readonly others: readonly { readonly proxyId: number; readonly name: string }[];
}

/**
 * The alarms one successful probe raises. Pure: the caller read the gateway's addresses (as
 * @pgw/runtime reads them: local ranges too) and the sharing proxies. `differsFrom`: the address
 * the proxy was dialed at when its exit should differ from it (`exitDiffers`), else null.
 */
export function exitIpAlarms(exitIp: string, gatewayAddresses: Iterable<string>, sharedWith: readonly { proxyId: number; name: string }[], differsFrom: string | null = null): ExitIpAlarm[] {
  const alarms: ExitIpAlarm[] = [];
  if (new GatewayAddresses(gatewayAddresses).has(exitIp)) alarms.push({ kind: 'gateway_address', exitIp, others: [] });
  if (differsFrom !== null && differsFrom === exitIp) alarms.push({ kind: 'proxy_address', exitIp, others: [] });
  if (sharedWith.length > 0) alarms.push({ kind: 'shared', exitIp, others: [...sharedWith].sort((a, b) => a.proxyId - b.proxyId) });
  return alarms;
}

/**
 * Which alarms are new since the last probe of each proxy: a notice is published when an alarm
 * appears (or changes: another exit IP, other sharing proxies), not on every probe while it holds.
 */
export class ExitIpAlarmMemory {
  private readonly last = new Map<number, Map<ExitIpAlarmKind, string>>();

  /** Returns the alarms to announce and the kinds now raised/cleared (for the metric). */
  update(proxyId: number, alarms: readonly ExitIpAlarm[]): { announce: ExitIpAlarm[]; raised: ReadonlySet<ExitIpAlarmKind> } {
    const before = this.last.get(proxyId) ?? new Map<ExitIpAlarmKind, string>();
    const now = new Map(alarms.map((a) => [a.kind, `${a.exitIp}|${a.others.map((o) => o.proxyId).join(',')}`] as const));
    this.last.set(proxyId, now);
    return { announce: alarms.filter((a) => before.get(a.kind) !== now.get(a.kind)), raised: new Set(now.keys()) };
  }

  forget(proxyId: number): void {
    this.last.delete(proxyId);
  }
}
