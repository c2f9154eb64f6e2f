import { shallowRef } from 'vue';
import { type ExitIpAlarm, withExitIpAlarm } from '../lib/exit-ip-alarm-text.js';

/** The exit-IP alarms announced since login (issue 17), for the banners; dismissed one by one. */
export const exitIpAlarms = shallowRef<ExitIpAlarm[]>([]);

export function noteExitIpAlarm(event: ExitIpAlarm): void {
  exitIpAlarms.value = withExitIpAlarm(exitIpAlarms.value, event);
}

export function dismissExitIpAlarm(alarm: ExitIpAlarm): void {
  exitIpAlarms.value = exitIpAlarms.value.filter((a) => a !== alarm);
}

export function clearExitIpAlarms(): void {
  exitIpAlarms.value = [];
}
