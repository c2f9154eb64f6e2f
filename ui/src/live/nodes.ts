import { onBeforeUnmount, onMounted, shallowRef } from 'vue';
import { api } from '../api/client.js';
import { errorMessage } from '../api/http.js';
import type { GatewayNodes } from '../api/types.js';

/**
 * The gateway nodes (GET /api/v1/nodes, issue 18), re-read while the dashboard shows them: every 2 s,
 * and at once on ha.state_changed (live/store.ts). A node whose agent dies announces nothing; its
 * HA state expires within 3 s, which the poll shows.
 */
const POLL_MS = 2_000;

export const nodes = shallowRef<GatewayNodes | null>(null);
export const nodesError = shallowRef<string | null>(null);

let users = 0;
let timer: ReturnType<typeof setInterval> | undefined;

export async function reloadNodes(): Promise<void> {
  if (users === 0) return;
  try {
    nodes.value = await api.listNodes();
    nodesError.value = null;
  } catch (error) {
    nodesError.value = errorMessage(error);
  }
}

/** Keeps `nodes` fresh while the calling component is mounted. */
export function useNodes() {
  onMounted(() => {
    if (users++ === 0) {
      void reloadNodes();
      timer = setInterval(() => void (document.hidden ? undefined : reloadNodes()), POLL_MS);
    }
  });
  onBeforeUnmount(() => {
    if (--users === 0) clearInterval(timer);
  });
  return { nodes, nodesError };
}
