/**
 * The node's HA state as data (issue 18). keepalived's notify hook (deploy/keepalived/pgw-ha-notify.sh,
 * root) writes one line to a small state file on every transition; the agent reads it and turns it
 * into the `ha` part of its status record, the event ha.state_changed and the metric pgw_ha_state.
 * keepalived thus needs no Redis credentials and no network access beyond VRRP (docs/ARCHITECTURE.md,
 * "HA pair"): the agent, which already holds them, is the only writer.
 */
import { readFile } from 'node:fs/promises';
import { type EventBus, HA_STATES, HA_STATUS_REFRESH_MS, HA_STATUS_TTL_S, type HaState, haStatusKey, type HaStatusRecord } from '@pgw/events';
import type { Logger } from '@pgw/log';
import type { Redis } from 'ioredis';
import { Gauge, type Registry } from 'prom-client';

/** What the hook wrote: "<unix time.ms> <instance> <state> <priority> <keepalived pid>". */
export interface HaFileLine {
  state: HaState;
  since: Date;
  priority: number;
  pid: number;
}

const LINE = /^(\d{9,11}(?:\.\d{1,9})?) [A-Za-z0-9_.-]{1,64} (MASTER|BACKUP|FAULT|STOP) (\d{1,3}) (\d{1,10})\n?$/;

/** The file's line, or an Error saying what is wrong with it (the agent logs it and keeps the last good state). */
export function parseHaLine(text: string): HaFileLine | Error {
  const m = LINE.exec(text);
  if (!m) return new Error(`not "<time> <instance> <MASTER|BACKUP|FAULT|STOP> <priority> <pid>": ${JSON.stringify(text.slice(0, 120))}`);
  const priority = Number(m[3]);
  if (priority > 255) return new Error(`priority ${priority} is not in 0..255`);
  return { state: m[2] as HaState, since: new Date(Math.round(Number(m[1]) * 1000)), priority, pid: Number(m[4]) };
}

/**
 * The state to report: the file's, except that a MASTER, BACKUP or FAULT whose keepalived is gone
 * (SIGKILL, OOM, crash: no hook ran) is STOP from when the agent noticed. Without this a killed
 * master's node would claim MASTER forever and the console would show a split brain that is not.
 */
export function effectiveState(line: HaFileLine, keepalivedAlive: boolean, noticedAt: Date): { state: HaState; since: Date } {
  if (line.state === 'STOP' || keepalivedAlive) return { state: line.state, since: line.since };
  return { state: 'STOP', since: noticedAt };
}

/**
 * Whether `pid` is still keepalived: named so, and root's. Any local user may name a process
 * keepalived, and a killed keepalived's pid may be handed to such a process: by name alone a dead
 * node would go on claiming MASTER.
 */
export async function isKeepalived(pid: number): Promise<boolean> {
  try {
    const [comm, status] = await Promise.all([readFile(`/proc/${pid}/comm`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]);
    return comm.trim() === 'keepalived' && /^Uid:[ \t]+0[ \t]+0[ \t]+0[ \t]+0$/m.test(status);
  } catch {
    return false;
  }
}

export interface HaReporterDeps {
  node: string;
  file: string;
  /** How often the file and keepalived's pid are checked: a failover shows within this. */
  intervalMs: number;
  redis: Redis;
  registry: Registry;
  bus: EventBus;
  logger: Logger;
}

/** Polls the state file, keeps the node's HA key fresh (haStatusKey, TTL HA_STATUS_TTL_S); returns stop(). */
export function startHaReporting(deps: HaReporterDeps): () => void {
  const gauge = new Gauge({ name: 'pgw_ha_state', help: "1 for this node's current keepalived state (MASTER, BACKUP, FAULT, STOP), 0 for the others", labelNames: ['node', 'state'], registers: [deps.registry] });
  for (const state of HA_STATES) gauge.set({ node: deps.node, state }, 0);
  const key = haStatusKey(deps.node);
  let lastText: string | null = null;
  let line: HaFileLine | null = null;
  let reported: HaStatusRecord = { state: null, since: null, priority: null };
  let writtenAt = 0;
  let stopPid: number | null = null;
  let stopSince = new Date();
  let running = false;

  const write = (now: number) => {
    writtenAt = now;
    deps.redis.set(key, JSON.stringify(reported), 'EX', HA_STATUS_TTL_S).catch((error: Error) => {
      writtenAt = 0;
      deps.logger.warn('cannot write the HA state to Redis', { error: error.message });
    });
  };

  const check = async () => {
    let text: string | null;
    try {
      text = await readFile(deps.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      text = null; // keepalived has not reported yet
    }
    if (text !== null && text !== lastText) {
      lastText = text;
      const parsed = parseHaLine(text);
      if (parsed instanceof Error) deps.logger.warn('ignoring the HA state file', { file: deps.file, error: parsed.message });
      else line = parsed;
    }
    const now = Date.now();
    if (line !== null) {
      const alive = line.state === 'STOP' || (await isKeepalived(line.pid));
      if (!alive && stopPid !== line.pid) {
        stopPid = line.pid;
        stopSince = new Date();
        deps.logger.warn('keepalived is gone without a transition: reporting STOP', { pid: line.pid, lastState: line.state });
      }
      const next = effectiveState(line, alive, stopSince);
      const previous = reported.state;
      if (previous !== next.state || reported.since !== next.since.toISOString()) {
        reported = { state: next.state, since: next.since.toISOString(), priority: line.priority };
        for (const state of HA_STATES) gauge.set({ node: deps.node, state }, state === next.state ? 1 : 0);
        write(now);
        if (previous !== next.state) {
          deps.logger.info('HA state', { node: deps.node, state: next.state, previous, since: reported.since });
          deps.bus
            .publish({ type: 'ha.state_changed', node: deps.node, state: next.state, previous, since: next.since.toISOString() })
            .catch((error: Error) => deps.logger.warn('cannot publish ha.state_changed', { error: error.message }));
        }
        return;
      }
    }
    if (now - writtenAt >= HA_STATUS_REFRESH_MS) write(now);
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    check()
      .catch((error: Error) => deps.logger.warn('cannot read the HA state file', { file: deps.file, error: error.message }))
      .finally(() => (running = false));
  }, deps.intervalMs);
  return () => clearInterval(timer);
}
