import type { Logger } from '@pgw/log';
import { Counter, type Registry } from 'prom-client';
import { type RefusalReading, refusalsSince } from './client-refusal-reading.js';

/** One per-client limit whose refusals the kernel counts by client (refusal-kinds.ts). */
export interface RefusalKind {
  /** What is refused, in the line logged when the set cannot be read ("flow cap"). */
  readonly name: string;
  /** The dynamic set of refusals by client in table inet pgw (render-ruleset.ts). */
  readonly set: string;
  /** Every client's refusals, always exported. */
  readonly total: { readonly name: string; readonly help: string };
  /** Per client, only with the setting per_client_metrics. */
  readonly perClient: { readonly name: string; readonly help: string };
  /** The warning naming the refused clients, and the limit in force logged with it ({ cap: 4096 }). */
  readonly warning: string;
  readonly limit: Readonly<Record<string, number>>;
}

export interface ClientRefusalsDeps {
  readonly kind: RefusalKind;
  /** The kernel's refusal counts of kind.set (nft.ts readRefusals); null without the table or the limit. */
  readonly read: () => Promise<RefusalReading | null>;
  /** The setting per_client_metrics now. */
  readonly perClientMetrics: () => boolean;
  readonly registry: Registry;
  readonly logger: Logger;
  /** At most one log line naming the refused clients per this many ms. */
  readonly logEveryMs?: number;
}

/** The most clients one log line names (the rest are counted). */
const NAMED_IN_LOG = 16;

/**
 * A per-client limit's refusals (flow 23's cap, flow 25's rate: docs/SECURITY.md), from the kernel
 * to the operator: every interval one listing of the kind's set in table inet pgw, added to its
 * total (always), to its per-client series with per_client_metrics, and a warning naming the
 * clients at most once a minute. The refusals happen before DNAT: the forwarder never sees them,
 * so without this a client at its limit (a flood, or a limit too low for it) was silent.
 */
export class ClientRefusals {
  private last: RefusalReading | null = null;
  private readonly total: Counter;
  private readonly perClient: Counter<'client'>;
  private readonly unlogged = new Map<string, number>();
  private loggedAt = -Infinity;
  private readFailing = false;
  private reading = false;
  /** The clients with a per-client series: those the set holds, refused since the table was applied. */
  private readonly shown = new Set<string>();

  constructor(private readonly deps: ClientRefusalsDeps) {
    const registers = [deps.registry];
    this.total = new Counter({ ...deps.kind.total, registers });
    this.total.inc(0);
    this.perClient = new Counter({ ...deps.kind.perClient, labelNames: ['client'], registers });
  }

  /**
   * One reading; never throws (a failure is logged once until it recovers). Skipped while the last
   * one runs: an older reading landing after a newer one would look like counts gone down, and be
   * counted whole again.
   */
  async tick(now = Date.now()): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    let reading: RefusalReading | null;
    try {
      reading = await this.deps.read();
      if (this.readFailing) this.deps.logger.info(`${this.deps.kind.name} refusals readable again`);
      this.readFailing = false;
    } catch (error) {
      if (!this.readFailing) this.deps.logger.warn(`cannot read the ${this.deps.kind.name} refusals`, { error: (error as Error).message });
      this.readFailing = true;
      return;
    } finally {
      this.reading = false;
    }
    if (reading === null) return;
    const since = refusalsSince(this.last, reading);
    this.last = reading;
    this.record(since, reading.counts);
    this.log(since, now);
  }

  /** `present`: the set's clients now; a series of one no longer in it goes (the table was re-created). */
  private record(since: ReadonlyMap<string, number>, present: ReadonlyMap<string, number>): void {
    for (const refused of since.values()) this.total.inc(refused);
    if (!this.deps.perClientMetrics()) {
      if (this.shown.size > 0) this.perClient.reset();
      this.shown.clear();
      return;
    }
    for (const [client, refused] of since) {
      this.perClient.inc({ client }, refused);
      this.shown.add(client);
    }
    for (const client of this.shown) {
      if (present.has(client)) continue;
      this.perClient.remove({ client });
      this.shown.delete(client);
    }
  }

  private log(since: ReadonlyMap<string, number>, now: number): void {
    for (const [client, refused] of since) this.unlogged.set(client, (this.unlogged.get(client) ?? 0) + refused);
    if (this.unlogged.size === 0 || now - this.loggedAt < (this.deps.logEveryMs ?? 60_000)) return;
    const worst = [...this.unlogged].sort((a, b) => b[1] - a[1]);
    this.deps.logger.warn(this.deps.kind.warning, {
      ...this.deps.kind.limit,
      refused: Object.fromEntries(worst.slice(0, NAMED_IN_LOG)),
      ...(worst.length > NAMED_IN_LOG ? { otherClients: worst.length - NAMED_IN_LOG } : {}),
    });
    this.unlogged.clear();
    this.loggedAt = now;
  }
}
