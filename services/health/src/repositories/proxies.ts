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
  readonly handshakeMode: ProxyHandshakeMode;
  readonly handshakeLearned: ProxyHandshake | null;
  /** Whether it carries UDP, and when the probe last asked (migration 0020); both null: never asked for this endpoint. */
  readonly udpSupport: ProxyUdpSupport | null;
  readonly udpCheckedAt: Date | null;
  /** The last probe by any node: where a node taking over as the prober continues the schedule. */
  readonly lastCheckedAt: Date | null;
}

const COLUMNS = ['id', 'name', 'protocol', 'host', 'port', 'username', 'passwordEnc', 'status', 'handshakeMode', 'handshakeLearned', 'udpSupport', 'udpCheckedAt', 'lastCheckedAt'] as const;

export async function listProxies(db: Db): Promise<ProxyToProbe[]> {
  return db.selectFrom('proxies').select(COLUMNS).orderBy('id').execute();
}

export async function findProxy(db: Db, id: number): Promise<ProxyToProbe | undefined> {
  return db.selectFrom('proxies').select(COLUMNS).where('id', '=', id).executeTakeFirst();
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
   * The SOCKS5 handshake the probe learned, with the proxy as it was probed: stored only while
   * the row still has that endpoint, credentials and mode (an edit during the probe re-learns).
   */
  readonly learned?: { readonly handshake: ProxyHandshake; readonly probed: ProxyToProbe };
  /**
   * The UDP check of this probe (udp-learning.ts), with the proxy as it was asked: stored only while
   * the row still has that endpoint and credentials. support null: it could not tell, only the time
   * of the check is stored (what was known stays).
   */
  readonly udp?: { readonly support: ProxyUdpSupport | null; readonly probed: ProxyToProbe };
}

type EndpointColumns = Pick<ProxyToProbe, 'protocol' | 'host' | 'port' | 'username' | 'passwordEnc'>;

/** The row still dials the proxy the probe asked: what it learned holds for it. */
function sameEndpoint(row: EndpointColumns, probed: EndpointColumns): boolean {
  return row.protocol === probed.protocol && row.host === probed.host && row.port === probed.port && row.username === probed.username && row.passwordEnc === probed.passwordEnc;
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
 * Applies one probe to the proxy's status and appends it to the history, in one transaction.
 * The row lock serialises concurrent probes of the same proxy (periodic, on-demand, upstream
 * failure) so their consecutive counts cannot be lost. Returns undefined when the proxy is gone.
 */
export async function recordProbe(db: Db, probe: ProbeRecord, thresholds: Thresholds): Promise<RecordedProbe | undefined> {
  return db.transaction().execute(async (trx) => {
    const row = await trx
      .selectFrom('proxies')
      .select(['status', 'consecutiveSuccesses', 'consecutiveFailures', 'exitIp', 'protocol', 'host', 'port', 'username', 'passwordEnc', 'handshakeMode', 'handshakeLearned', 'udpSupport', 'exitDiffers'])
      .where('id', '=', probe.proxyId)
      .forUpdate()
      .executeTakeFirst();
    if (row === undefined) return undefined;
    const previous: HealthState = { status: row.status, consecutiveSuccesses: row.consecutiveSuccesses, consecutiveFailures: row.consecutiveFailures };
    const next = applyProbe(previous, probe.ok, thresholds);
    const learned = probe.learned;
    const learnedNow = learned !== undefined && learned.handshake !== row.handshakeLearned && sameEndpoint(row, learned.probed) && row.handshakeMode === learned.probed.handshakeMode;
    const udp = probe.udp !== undefined && sameEndpoint(row, probe.udp.probed) ? probe.udp : undefined;
    const udpSupport = udp?.support ?? row.udpSupport;
    await trx
      .updateTable('proxies')
      .set({
        status: next.status,
        consecutiveSuccesses: next.consecutiveSuccesses,
        consecutiveFailures: next.consecutiveFailures,
        lastCheckedAt: probe.checkedAt,
        lastError: probe.error,
        // A failed probe says nothing about latency; the last seen exit IP stays for the console.
        latencyMs: probe.latencyMs,
        ...(probe.exitIp !== null ? { exitIp: probe.exitIp } : {}),
        // Stamped by Postgres' clock: the agent and forwarder age it with now() for the backup
        // hold-down, and this host's clock may differ from the database's.
        ...(next.status !== previous.status ? { statusChangedAt: sql<Date>`now()` } : {}),
        ...(learnedNow ? { handshakeLearned: learned.handshake } : {}),
        ...(udp !== undefined ? { udpSupport, udpCheckedAt: probe.checkedAt } : {}),
      })
      .where('id', '=', probe.proxyId)
      .execute();
    await trx
      .insertInto('proxyChecks')
      .values({
        proxyId: probe.proxyId,
        checkedAt: probe.checkedAt,
        ok: probe.ok,
        latencyMs: probe.latencyMs,
        exitIp: probe.exitIp,
        error: probe.error,
        trigger: probe.trigger,
      })
      .execute();
    const sharedWith = probe.exitIp === null ? [] : await recordExitIp(trx, probe.proxyId, probe.exitIp, probe.checkedAt);
    return { previous, next, previousExitIp: row.exitIp, sharedWith, exitDiffers: row.exitDiffers, udpSupport: { previous: row.udpSupport, next: udpSupport } };
  });
}
