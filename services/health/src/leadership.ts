import type { Logger } from '@pgw/log';
import pg from 'pg';

/**
 * The Postgres session advisory lock the active prober holds (issue 18, docs/ARCHITECTURE.md "HA
 * pair"): any constant both nodes agree on; no other pgw code takes advisory locks.
 */
export const PROBER_LOCK_KEY = 0x70677768; // "pgwh"

export type ProberRole = 'leader' | 'standby';

/** The first retry after a failed round; later ones double. */
const FAILED_ROUND_RETRY_MS = 500;

/**
 * The leader's session. Both ends watch it: this side's keepalive notices a vanished server; the
 * server's (session settings, over TCP; ignored on a Unix socket, where a dead peer closes at once)
 * notices a vanished leader, a node that lost power or its network without a FIN, within ~15 s.
 * Left to the kernel's defaults, Postgres would hold the session and with it the lock for more
 * than two hours, and no node would probe.
 */
export function leaderSessionConfig(databaseUrl: string): pg.ClientConfig {
  return {
    connectionString: databaseUrl,
    application_name: 'pgw-health-leader',
    connectionTimeoutMillis: 3_000,
    query_timeout: 3_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 1_000,
    options: '-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3 -c tcp_user_timeout=10000',
  };
}

export interface LeadershipOptions {
  readonly databaseUrl: string;
  /** The probe period (settings.healthIntervalS) as now stored; the last known one while Postgres is down. */
  periodMs(): Promise<number>;
  /** Called once the lock is held: start probing. */
  lead(): Promise<void>;
  /** Called once the lock is lost (the session died): stop probing. */
  standDown(): Promise<void>;
  readonly logger: Logger;
}

/**
 * Chooses the one health service of an HA pair that probes. Both nodes run health; the one whose
 * dedicated Postgres session holds pg_try_advisory_lock probes, so each proxy is probed (and its
 * counters advanced) once per period. The standby retries every half period. Postgres releases the
 * lock the moment the leader's session ends (process killed, connection closed), so the standby
 * leads within half a period, which leaves the other half for its start: the new leader probes what
 * is overdue at once (scheduler.ts), so no proxy waits longer than one period plus the probe
 * timeout. The leader checks its own session as often and stands down when it is gone (a
 * partition: both may probe for up to half a period: a double probe, never a skipped one). After a
 * failed round or a dead session the next comes within a second (doubling up to the half period):
 * a single node leads again as soon as Postgres answers.
 */
export class ProberLeadership {
  private client: pg.Client | undefined;
  private current: ProberRole = 'standby';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  /** Half the probe period: how often the standby tries the lock and the leader checks its session. */
  private halfPeriodMs = 1_000;
  private nextRoundMs = 1_000;
  /** Rounds failed in a row (the session gone, Postgres away). */
  private failures = 0;

  constructor(private readonly options: LeadershipOptions) {}

  get role(): ProberRole {
    return this.current;
  }

  start(): void {
    this.schedule(0);
  }

  /** Stops probing if leading and ends the session, which releases the lock for the peer at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.lose('stopping');
  }

  /** The next round in `ms`, in place of any planned (one round at a time). */
  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => this.schedule(this.nextRoundMs));
    }, ms);
  }

  private async round(): Promise<void> {
    this.halfPeriodMs = await this.options.periodMs().then((ms) => ms / 2, () => this.halfPeriodMs);
    this.nextRoundMs = this.halfPeriodMs;
    try {
      await this.tryToLead();
      this.failures = 0;
    } catch (error) {
      this.nextRoundMs = this.retryAfterFailure();
      await this.lose((error as Error).message);
    }
  }

  /** Leading: checks the session; standing by: tries the lock, and leads once it is held. */
  private async tryToLead(): Promise<void> {
    const client = await this.session();
    if (this.current === 'leader') {
      await client.query('SELECT 1');
      return;
    }
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [PROBER_LOCK_KEY]);
    if (rows[0]?.locked !== true || this.stopped) return;
    this.current = 'leader';
    this.options.logger.info('prober leadership taken: this node probes');
    await this.options.lead();
  }

  /**
   * After a failed round or a session that died: soon, doubling up to the half period. One Postgres
   * hiccup stood the leader down (rightly: the lock went with the session) and left every proxy
   * unprobed and liveness unwatched until the next round, half a period later.
   */
  private retryAfterFailure(): number {
    const ms = Math.min(this.halfPeriodMs, FAILED_ROUND_RETRY_MS * 2 ** Math.min(this.failures, 10));
    this.failures++;
    return ms;
  }

  private async session(): Promise<pg.Client> {
    if (this.client !== undefined) return this.client;
    const client = new pg.Client(leaderSessionConfig(this.options.databaseUrl));
    // The session dying while idle: stand down now rather than at the next round.
    client.on('error', (error) => {
      if (this.client !== client) return;
      this.running = this.running.then(() => this.lose(error.message));
      // The next round soon, not at the one planned for a healthy session.
      this.running.then(() => this.schedule(this.retryAfterFailure()), () => undefined);
    });
    this.client = client;
    await client.connect();
    return client;
  }

  private async lose(why: string): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await client.end().catch(() => undefined);
    if (this.current !== 'leader') return;
    this.current = 'standby';
    this.options.logger.warn('prober leadership lost: standing by', { reason: why });
    await this.options.standDown().catch((error: Error) => this.options.logger.warn('stopping the prober failed', { error: error.message }));
  }
}
