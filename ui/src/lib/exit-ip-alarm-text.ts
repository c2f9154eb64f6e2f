import type { LiveEvent } from '../api/types.js';

export type ExitIpAlarm = Extract<LiveEvent, { type: 'proxy.exit_ip_alarm' }>;

/** The banner's heading: both address kinds mean the proxy does not proxy. */
export function exitIpAlarmTitle(alarm: Pick<ExitIpAlarm, 'kind'>): string {
  return alarm.kind === 'shared' ? 'Shared exit IP' : 'Proxy does not proxy';
}

/** What an exit-IP alarm means for the clients, in words (issue 17). */
export function exitIpAlarmText(alarm: ExitIpAlarm): string {
  if (alarm.kind === 'gateway_address') {
    return `Proxy ${alarm.name} does not proxy: its traffic leaves from the gateway's own address ${alarm.exitIp}. Its clients are not behind an upstream proxy.`;
  }
  if (alarm.kind === 'proxy_address') {
    return `Proxy ${alarm.name} does not proxy: its traffic leaves from the proxy's own address ${alarm.exitIp}, although it is set to exit from other addresses. Its clients share that one address.`;
  }
  const others = alarm.others.map((o) => o.name).join(', ');
  return `Proxy ${alarm.name} shares its exit IP ${alarm.exitIp} with ${others}: their clients look the same to the internet.`;
}

/** The banners: newest first, one per proxy and kind (a repeat replaces it), bounded. */
export function withExitIpAlarm(alarms: readonly ExitIpAlarm[], event: ExitIpAlarm, max = 5): ExitIpAlarm[] {
  return [event, ...alarms.filter((a) => a.proxyId !== event.proxyId || a.kind !== event.kind)].slice(0, max);
}
