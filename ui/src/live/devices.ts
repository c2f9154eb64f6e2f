import { onBeforeUnmount, onMounted, shallowRef } from 'vue';
import { api } from '../api/client.js';
import { errorMessage } from '../api/http.js';
import type { DeviceList } from '../api/types.js';

/**
 * The LAN devices the agent reports (GET /api/v1/devices), re-read while a view that shows them is
 * mounted. No notice announces a new device (the agent writes a record, not an event), so this polls:
 * every 2 s, the agent's own read interval, so a device is listed within ~4 s of its first packet.
 */
const POLL_MS = 2_000;

export const devices = shallowRef<DeviceList | null>(null);
export const devicesError = shallowRef<string | null>(null);

let users = 0;
let timer: ReturnType<typeof setInterval> | undefined;

export async function reloadDevices(): Promise<void> {
  try {
    devices.value = await api.listDevices();
    devicesError.value = null;
  } catch (error) {
    devicesError.value = errorMessage(error);
  }
}

/** Keeps `devices` fresh while the calling component is mounted (shared by every such component). */
export function useDevices() {
  onMounted(() => {
    if (users++ === 0) {
      void reloadDevices();
      timer = setInterval(() => void (document.hidden ? undefined : reloadDevices()), POLL_MS);
    }
  });
  onBeforeUnmount(() => {
    if (--users === 0) clearInterval(timer);
  });
  return { devices, devicesError };
}
