import type { ProxyHandshake, ProxyHandshakeMode, ProxyProtocol, ProxyStatus, ProxyUdpSupport } from '@pgw/domain';
import type { Db } from '@pgw/db';
import { sql } from 'kysely';
import type { ProbeTrigger } from '@pgw/events';
import { applyProbe, type HealthState, type Thresholds } from '../state/health-state.js';
import { recordExitIp } from './exit-ips.js';

/** What the health service needs to probe a proxy; the password stays sealed until the dial. */
export interface ProxyToProbe {
  readonly id: number;
  readonly name: string;
  readonly protocol: ProxyProtocol;
  readonly host: string;
  readonly port: number;
  readonly username: string | null;
  readonly passwordEnc: string | null;
  readonly status: ProxyStatus;
  /** Successes in a row so far: above 0 while a down proxy recovers (a liveness loss then resets it). */
  readonly consecutiveSuccesses: number;
  readonly handshakeMode: ProxyHandshakeMode;
  readonly handshakeLearned: ProxyHandshake | null;
  /** Whether it carries UDP, and when the probe last asked (migration 0020); both null: never asked for this endpoint. */
  readonly udpSupport: ProxyUdpSupport | null;
  readonly udpCheckedAt: Date | null;
  /** The last probe by any node: where a node taking over as the prober continues the schedule. */
  readonly lastCheckedAt: Date | null;
  /**
   * When the row was read, by Postgres' clock to the microsecond (ISO 8601, UTC): a probe of it
   * starts then, and is ordered by it (recordProbe). Text, because a Date keeps milliseconds only
   * and two probes may start within one.
   */
  readonly readAt: string;
}

const COLUMNS = ['id', 'name', 'protocol', 'host', 'port', 'username', 'passwordEnc', 'status', 'consecutiveSuccesses', 'handshakeMode', 'handshakeLearned', 'udpSupport', 'udpCheckedAt', 'lastCheckedAt'] as const;
/** One clock for every health node: their own may differ, the order of their probes must not. */
const READ_AT = sql<string>`to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`.as('readAt');

export async function listProxies(db: Db): Promise<ProxyToProbe[]> {
  return db.selectFrom('proxies').select([...COLUMNS, READ_AT]).orderBy('id').execute();
}

export async function findProxy(db: Db, id: number): Promise<ProxyToProbe | undefined> {
  return db.selectFrom('proxies').select([...COLUMNS, READ_AT]).where('id', '=', id).executeTakeFirst();
}

/**
 * A loss the status already shows (down, no recovery begun): nothing to record, but a probe that
 * started before it is history only all the same (recordProbe's superseded), so its success cannot
 * begin a recovery of a proxy seen dead after it dialed. Only ever moves the mark forward.
 */
export async function markLoss(db: Db, seen: ProxyToProbe): Promise<void> {
  await db
    .updateTable('proxies')
    .set({ lastProbeStartedAt: sql<Date>`greatest(last_probe_started_at, ${seen.readAt}::timestamptz)` })
    .where('id', '=', seen.id)
    .execute();
}

export interface ProbeRecord {
  readonly proxyId: number;
  readonly trigger: ProbeTrigger;
  readonly checkedAt: Date;
  readonly ok: boolean;
  readonly latencyMs: number | null;
  readonly exitIp: string | null;
  readonly error: string | null;
  /**
   * The proxy as the probe read it before it dialed. The result is about that endpoint only: it is
   * recorded while the row still has that endpoint and credentials, and dropped after an edit. Its
   * readAt is when the probe started: a result older than the one the status holds is history only.
   */
  readonly probed: ProxyToProbe;
  /** The SOCKS5 handshake the probe learned (a mode edit meanwhile drops the whole result). */
  readonly learned?: ProxyHandshake;
  /** The UDP check of this probe (udp-learning.ts). support null: it could not tell, only the time of the check is stored (what was known stays). */
  readonly udp?: { readonly support: ProxyUdpSupport | null };
}

/**
 * What a probe dials and how: an edit of any of these makes what the probe found stale (0004 resets
 * the status for the endpoint's and credentials' columns, 0025 for a mode forced to pipelined or
 * early-data).
 */
export type EndpointColumns = Pick<ProxyToProbe, 'protocol' | 'host' | 'port' | 'username' | 'passwordEnc' | 'handshakeMode'>;

/** The row still dials the proxy the probe asked, as it asked: what it learned holds for it. */
function sameEndpoint(row: EndpointColumns, probed: EndpointColumns): boolean {
  return row.protocol === probed.protocol && row.host === probed.host && row.port === probed.port && row.username === probed.username && row.passwordEnc === probed.passwordEnc && row.handshakeMode === probed.handshakeMode;
}

export interface RecordedProbe {
  readonly previous: HealthState;
  readonly next: HealthState;
  /** The exit IP stored before this probe (exit-IP changes are worth a log line). */
  readonly previousExitIp: string | null;
  /** Other proxies whose last exit IP is this probe's (issue 17: the shared alarm); empty after a failed probe. */
  readonly sharedWith: readonly { proxyId: number; name: string }[];
  /** The operator's setting as locked with the row: the exit should differ from the proxy's own address (the `proxy_address` alarm). */
  readonly exitDiffers: boolean;
  /** The UDP support before and after this probe (equal when it did not ask or learned nothing new). */
  readonly udpSupport: { readonly previous: ProxyUdpSupport | null; readonly next: ProxyUdpSupport | null };
}

/**
 * Why a probe's result did not change the status: the proxy is gone, its endpoint was edited while
 * the probe ran (nothing recorded), or a probe that started later was applied first (superseded:
 * in the history only).
 */
export interface SkippedProbe {
  readonly skipped: 'deleted' | 'endpoint_changed' | 'superseded';
}

/**
 * Applies one probe to the proxy's status and appends it to the history, in one transaction.
 * The row lock serialises concurrent probes of the same proxy (periodic, on-demand, upstream
 * failure) so their consecutive counts cannot be lost. Nothing is written when the proxy is gone
 * or no longer has the endpoint the probe dialed.
 */
export async function recordProbe(db: Db, probe: ProbeRecord, thresholds: Thresholds): Promise<RecordedProbe | SkippedProbe> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('proxies')
      .select(['status', 'consecutiveSuccesses', 'consecutiveFailures', 'exitIp', 'protocol', 'host', 'port', 'username', 'passwordEnc', 'handshakeMode', 'handshakeLearned', 'udpSupport', 'exitDiffers'])
      .select(sql<boolean | null>`last_probe_started_at > ${probe.probed.readAt}::timestamptz`.as('superseded'))
      .where('id', '=', probe.proxyId)
      .forUpdate()
      .executeTakeFirst();
    if (row === undefined) return { skipped: 'deleted' };
    if (!sameEndpoint(row, probe.probed)) return { skipped: 'endpoint_changed' };
    if (row.superseded === true) {
      await insertCheck(trx, probe);
      return { skipped: 'superseded' };
    }
    const previous: HealthState = { status: row.status, consecutiveSuccesses: row.consecutiveSuccesses, consecutiveFailures: row.consecutiveFailures };
    const next = applyProbe(previous, probe.ok, thresholds);
    const { learned, udp } = probe;
    const learnedNow = learned !== undefined && learned !== row.handshakeLearned;
    const udpSupport = udp?.support ?? row.udpSupport;
    await trx
      .updateTable('proxies')
      .set({
        status: next.status,
        consecutiveSuccesses: next.consecutiveSuccesses,
        consecutiveFailures: next.consecutiveFailures,
        lastCheckedAt: probe.checkedAt,
        lastProbeStartedAt: sql<Date>`${probe.probed.readAt}::timestamptz`,
        lastError: probe.error,
        // A failed probe says nothing about latency; the last seen exit IP stays for the console.
        latencyMs: probe.latencyMs,
        ...(probe.exitIp !== null ? { exitIp: probe.exitIp } : {}),
        // Stamped by Postgres' clock: the agent and forwarder age it with now() for the backup
        // hold-down, and this host's clock may differ from the database's.
        ...(next.status !== previous.status ? { statusChangedAt: sql<Date>`now()` } : {}),
        ...(learnedNow ? { handshakeLearned: learned } : {}),
        ...(udp !== undefined ? { udpSupport, udpCheckedAt: probe.checkedAt } : {}),
      })
      .where('id', '=', probe.proxyId)
      .execute();
    await insertCheck(trx, probe);
    const sharedWith = probe.exitIp === null ? [] : await recordExitIp(trx, probe.proxyId, probe.exitIp, probe.checkedAt);
    return { previous, next, previousExitIp: row.exitIp, sharedWith, exitDiffers: row.exitDiffers, udpSupport: { previous: row.udpSupport, next: udpSupport } };
  });
}

/** The probe in the proxy's history (what the console's checks list shows). */
async function insertCheck(trx: Db, probe: ProbeRecord): Promise<void> {
  await trx
    .insertInto('proxyChecks')
    .values({ proxyId: probe.proxyId, checkedAt: probe.checkedAt, ok: probe.ok, latencyMs: probe.latencyMs, exitIp: probe.exitIp, error: probe.error, trigger: probe.trigger })
    .execute();
}
