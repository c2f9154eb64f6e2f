import { reactive, shallowRef, triggerRef } from 'vue';
import { api, listAllMappings } from '../api/client.js';
import { errorMessage } from '../api/http.js';
import type { LiveEvent, Mapping, Proxy, Status } from '../api/types.js';
import { type ExitIpAlert, withExitIpAlert } from '../lib/exit-ip-alerts.js';
import { openEventStream, type StreamState } from './event-stream.js';
import { reloadNodes } from './nodes.js';
import { clearExitIpAlarms, noteExitIpAlarm } from './exit-ip-alarms.js';

/**
 * Status and proxies are re-read this often: a probe that changes no status (new latency, "checked"
 * time, exit IP) is announced by no notice, and a notice lost while Redis was down is never sent again.
 */
const POLL_MS = 10_000;
const RELOAD_DEBOUNCE_MS = 200;
const FEED_LENGTH = 50;

/**
 * The console's copy of the gateway state: snapshots from the REST API, patched by SSE notices
 * and reloaded after each (re)connect. Lists are shallow refs replaced as a whole, so a table of
 * 1000 mappings costs no deep watchers.
 */
export const live = reactive({
  stream: 'connecting' as StreamState,
  /** When the stream was last known good; shown while disconnected. */
  lastLiveAt: null as Date | null,
  loadError: null as string | null,
  /** Bumped on config.changed, so an open settings form can offer a reload. */
  configVersion: 0,
});
export const proxies = shallowRef<Proxy[]>([]);
export const mappings = shallowRef<Mapping[]>([]);
export const status = shallowRef<Status | null>(null);
export const feed = shallowRef<(LiveEvent & { key: number })[]>([]);
/** Exit-IP changes not yet dismissed (lib/exit-ip-alerts.ts). */
export const exitIpAlerts = shallowRef<ExitIpAlert[]>([]);
/** proxy id -> how many times its status changed this session (the dashboard re-reads its history). */
export const proxyStatusTicks = shallowRef(new Map<number, number>());

let stream: { close(): void } | null = null;
let pollTimer: ReturnType<typeof setInterval> | undefined;
let feedKey = 0;
const pending = new Set<'proxies' | 'mappings' | 'status'>();
let reloadTimer: ReturnType<typeof setTimeout> | undefined;

export function startLive(): void {
  if (stream) return;
  stream = openEventStream({
    onState(state) {
      live.stream = state;
      if (state === 'live') live.lastLiveAt = new Date();
    },
    onOpen() {
      scheduleReload('proxies', 'mappings', 'status');
    },
    onEvent: handleEvent,
    // A 401 here reaches the session's handler, which logs the console out (login page, data cleared).
    // Any other failure (api down) keeps the stale view under "disconnected" and the stream retrying.
    onDrop: () => void api.me().catch(() => undefined),
  });
  pollTimer = setInterval(() => {
    if (live.stream === 'live') live.lastLiveAt = new Date();
    scheduleReload('status', 'proxies');
  }, POLL_MS);
  scheduleReload('proxies', 'mappings', 'status');
}

export function stopLive(): void {
  stream?.close();
  stream = null;
  clearInterval(pollTimer);
  clearTimeout(reloadTimer);
  pending.clear();
  proxies.value = [];
  mappings.value = [];
  status.value = null;
  feed.value = [];
  exitIpAlerts.value = [];
  clearExitIpAlarms();
  live.stream = 'connecting';
}

export function scheduleReload(...what: ('proxies' | 'mappings' | 'status')[]): void {
  for (const w of what) pending.add(w);
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => void reloadNow(), RELOAD_DEBOUNCE_MS);
}

/** Per list, the newest request sent and the newest applied: a slow answer never overwrites a newer one. */
const sent = { proxies: 0, mappings: 0, status: 0 };
const applied = { proxies: 0, mappings: 0, status: 0 };
function newest<T>(kind: keyof typeof sent, load: () => Promise<T>, apply: (value: T) => void): Promise<void> {
  const n = ++sent[kind];
  return load().then((value) => {
    if (n < applied[kind]) return;
    applied[kind] = n;
    apply(value);
  });
}

export async function reloadNow(): Promise<void> {
  const what = new Set(pending);
  pending.clear();
  try {
    await Promise.all([
      what.has('proxies') ? newest('proxies', api.listProxies, (r) => (proxies.value = r.items)) : null,
      what.has('mappings') ? newest('mappings', listAllMappings, (items) => (mappings.value = items)) : null,
      what.has('status') ? newest('status', api.getStatus, (s) => (status.value = s)) : null,
    ]);
    live.loadError = null;
  } catch (error) {
    live.loadError = errorMessage(error);
  }
}

function handleEvent(event: LiveEvent): void {
  live.lastLiveAt = new Date();
  feed.value = [{ ...event, key: ++feedKey }, ...feed.value].slice(0, FEED_LENGTH);
  switch (event.type) {
    case 'proxy.status':
      patchProxyStatus(event);
      scheduleReload('status', 'mappings', 'proxies');
      break;
    case 'proxy.exit_ip_changed':
      exitIpAlerts.value = withExitIpAlert(exitIpAlerts.value, event);
      scheduleReload('proxies');
      break;
    case 'proxy.exit_ip_alarm':
      noteExitIpAlarm(event);
      scheduleReload('proxies');
      break;
    case 'proxy.changed':
      scheduleReload('proxies', 'mappings', 'status');
      break;
    case 'mapping.changed':
      // Each proxy's mapping count changes with the mappings.
      scheduleReload('mappings', 'status', 'proxies');
      break;
    case 'agent.reconciled':
      scheduleReload('mappings', 'status');
      break;
    case 'config.changed':
      live.configVersion++;
      break;
    case 'forwarder.upstream_failure':
      break;
    case 'ha.state_changed':
      // The dashboard follows the master's records (GET /api/v1/status), the nodes card every node's.
      scheduleReload('status');
      void reloadNodes();
      break;
  }
}

export function dismissExitIpAlert(proxyId: number): void {
  exitIpAlerts.value = exitIpAlerts.value.filter((a) => a.proxyId !== proxyId);
}

/** Applied at once (not after the debounced reload) so a proxy going down shows immediately. */
function patchProxyStatus(event: Extract<LiveEvent, { type: 'proxy.status' }>): void {
  proxies.value = proxies.value.map((p) =>
    p.id === event.proxyId
      ? { ...p, status: event.status, latencyMs: event.latencyMs, exitIp: event.exitIp ?? p.exitIp, lastError: event.error, statusChangedAt: event.at }
      : p,
  );
  if (mappings.value.some((m) => m.proxyId === event.proxyId)) {
    mappings.value = mappings.value.map((m) => (m.proxyId === event.proxyId ? { ...m, proxyStatus: event.status } : m));
  }
  proxyStatusTicks.value.set(event.proxyId, (proxyStatusTicks.value.get(event.proxyId) ?? 0) + 1);
  triggerRef(proxyStatusTicks);
}
