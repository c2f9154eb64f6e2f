import type { Logger } from '@pgw/log';
import { CLIENT_USAGE_KEY, type ClientUsageSampleRecord } from '@pgw/events';
import { Counter, Gauge, type Registry } from 'prom-client';
import { buildUsageSample } from './accounting-sample.js';
import type { Shaper } from '../shaping/shaper.js';

export interface AccountingPublisherDeps {
  readonly node: string;
  readonly shaper: Pick<Shaper, 'sample' | 'applied'>;
  /** HSET of the node's field (the usage hash); rejects when Redis is unreachable. */
  readonly publish: (node: string, json: string) => Promise<unknown>;
  /** The setting per_client_metrics now. */
  readonly perClientMetrics: () => boolean;
  readonly registry: Registry;
  readonly logger: Logger;
}

type Direction = 'up' | 'down';

/**
 * Every interval: one listing of table inet pgw_quota (the kernel's per-client counters), the
 * usage sample to Redis (docs/contracts.md "Client usage"), and the Prometheus counters: the sums
 * always, per client only with the setting per_client_metrics (4096 clients would be 8192 series).
 * The counters grow by the difference to the last sample; a counter lower than before (its client
 * unmapped and mapped again, the table re-created from zero) adds its whole value. The first sample
 * of this process only sets where they start: the kernel's counters outlive an agent restart, and
 * adding them whole made the new process's total their sum since the table was made. Below the old
 * process's total (which held the bytes of clients unmapped since), Prometheus read a reset and
 * counted that whole sum as new traffic within one scrape; a client mapped later starts from 0 in
 * the kernel, so its whole value is its traffic.
 */
export class AccountingPublisher {
  private last: Map<string, { up: number; down: number; flows: number; since: string }> | null = null;
  private readonly totalBytes: Counter<'direction'>;
  private readonly totalConnections: Counter;
  private readonly clientBytes: Counter<'client' | 'direction'>;
  private readonly clientConnections: Counter<'client'>;
  private readonly sampleSeconds: Gauge;
  private perClientShown = false;
  private publishFailing = false;

  constructor(private readonly deps: AccountingPublisherDeps) {
    const registers = [deps.registry];
    this.totalBytes = new Counter({ name: 'pgw_clients_bytes_total', help: 'IP bytes of all mapped clients counted in the kernel (up: from the clients, down: to them)', labelNames: ['direction'], registers });
    for (const direction of ['up', 'down']) this.totalBytes.inc({ direction }, 0);
    this.totalConnections = new Counter({ name: 'pgw_clients_connections_total', help: 'New connections (conntrack state new) all mapped clients opened', registers });
    this.clientBytes = new Counter({ name: 'pgw_client_bytes_total', help: 'IP bytes per client (only with the setting per_client_metrics)', labelNames: ['client', 'direction'], registers });
    this.clientConnections = new Counter({ name: 'pgw_client_connections_total', help: 'New connections per client (only with the setting per_client_metrics)', labelNames: ['client'], registers });
    this.sampleSeconds = new Gauge({ name: 'pgw_agent_accounting_sample_seconds', help: 'Time of the last read of the per-client counters (one nft listing)', registers });
  }

  /** One sample; never throws (a failure is logged once until it recovers). Returns the sample published, if any. */
  async tick(now = new Date()): Promise<ClientUsageSampleRecord | null> {
    const applied = this.deps.shaper.applied;
    if (applied === null) return null;
    let sample: ClientUsageSampleRecord;
    try {
      const { reading, ms } = await this.deps.shaper.sample();
      sample = buildUsageSample({ node: this.deps.node, policy: applied.policy, window: applied.window, reading, sampledAt: now, sampleMs: ms });
      this.sampleSeconds.set(ms / 1000);
    } catch (error) {
      this.deps.logger.warn('cannot read the per-client counters', { error: (error as Error).message });
      return null;
    }
    this.record(sample);
    try {
      await this.deps.publish(this.deps.node, JSON.stringify(sample));
      if (this.publishFailing) this.deps.logger.info('client usage published again', { key: CLIENT_USAGE_KEY });
      this.publishFailing = false;
    } catch (error) {
      if (!this.publishFailing) this.deps.logger.warn('cannot publish the client usage sample', { key: CLIENT_USAGE_KEY, error: (error as Error).message });
      this.publishFailing = true;
    }
    return sample;
  }

  private record(sample: ClientUsageSampleRecord): void {
    const perClient = this.deps.perClientMetrics();
    if (!perClient && this.perClientShown) {
      this.clientBytes.reset();
      this.clientConnections.reset();
    }
    this.perClientShown = perClient;
    const next = new Map<string, { up: number; down: number; flows: number; since: string }>();
    const first = this.last === null;
    for (const [ip, c] of Object.entries(sample.clients)) {
      const now = { up: c.bytesUp, down: c.bytesDown, flows: c.connections, since: sample.countersSince };
      next.set(ip, now);
      if (first) continue;
      const before = this.last!.get(ip);
      const delta = (key: 'up' | 'down' | 'flows') => (before && before.since === now.since && now[key] >= before[key] ? now[key] - before[key] : now[key]);
      for (const direction of ['up', 'down'] as Direction[]) {
        const d = delta(direction);
        this.totalBytes.inc({ direction }, d);
        if (perClient) this.clientBytes.inc({ client: ip, direction }, d);
      }
      this.totalConnections.inc(delta('flows'));
      if (perClient) this.clientConnections.inc({ client: ip }, delta('flows'));
    }
    if (perClient && !first) {
      for (const ip of this.last!.keys()) {
        if (next.has(ip)) continue;
        for (const direction of ['up', 'down'] as Direction[]) this.clientBytes.remove({ client: ip, direction });
        this.clientConnections.remove({ client: ip });
      }
    }
    this.last = next;
  }
}
