import { performance } from 'node:perf_hooks';
import { decryptSecret } from '@pgw/crypto';
import type { Db } from '@pgw/db';
import { handshakeToUse, type ProxyEndpoint, type ProxyStatus, type Settings, parsePort } from '@pgw/domain';
import { dialerFor, type ProxyAddressCheck } from '@pgw/dialers';
import type { EventBus, ProbeResult, ProbeTrigger } from '@pgw/events';
import type { Logger } from '@pgw/log';
import { countProbe, type HealthMetrics } from './metrics.js';
import { EXIT_IP_ALARM_KINDS, ExitIpAlarmMemory, exitIpAlarms } from '../state/exit-ip-alarms.js';
import { checkTargetFromUrl, type ProbeOutcome, probeThroughProxy } from './probe.js';
import { findProxy, markLoss, type ProbeRecord, type ProxyToProbe, recordProbe } from '../repositories/proxies.js';
import { judgeCheckTarget, laterProbe, type LatestProbe } from '../state/target-suspicion.js';
import { checkUdpSupport, type UdpCheck, udpCheckDue } from '../learning/udp-learning.js';

/** A probe whose proxy was edited meanwhile: its result is about an endpoint the proxy no longer has. */
const ENDPOINT_CHANGED = Symbol('endpoint changed');
/** Probes of one request, each dropped because of an edit, before it gives up (the next edit or period probes again). */
const PROBES_PER_EDIT = 3;

export class ProxyNotFoundError extends Error {
  override readonly name = 'ProxyNotFoundError';
}

export interface ProberDeps {
  readonly db: Db;
  readonly bus: EventBus;
  readonly logger: Logger;
  readonly metrics: HealthMetrics;
  readonly secretKey: Buffer;
  /** The CAs an https check URL's certificate must chain to. */
  readonly trustedCa: readonly string[];
  /** The settings as last loaded from Postgres (interval, timeout, check URL, thresholds). */
  readonly settings: () => Settings;
  /** Where no proxy may be (loopback, link-local, the LAN, ...): checked on every address dialed. */
  readonly checkProxyAddress: ProxyAddressCheck;
  /**
   * The gateway's own addresses, for the "proxy does not proxy" alarm: the last ones read where a
   * re-read fails (GatewayAddressReader); throws only when none were ever read.
   */
  readonly gatewayAddresses: () => readonly string[];
}

/**
 * One probe of one proxy, end to end: read the proxy, probe through it, apply the result to its
 * status and history in Postgres, publish a transition, update metrics. Used by the BullMQ worker
 * and by the local fallback while Redis is down.
 */
export class Prober {
  private readonly latest = new Map<number, LatestProbe>();
  private readonly exitIpAlarms = new ExitIpAlarmMemory();
  private targetSuspected = false;

  constructor(private readonly deps: ProberDeps) {}

  async probe(proxyId: number, trigger: ProbeTrigger): Promise<ProbeResult> {
    for (let attempt = 1; ; attempt++) {
      const proxy = await this.find(proxyId);
      const result = await this.probeOnce(proxy, trigger);
      if (result !== ENDPOINT_CHANGED) return result;
      // The edited endpoint is probed here at once, whatever became of the edit's own request: it
      // never waits a period with a status that is not its own.
      if (attempt === PROBES_PER_EDIT) throw new Error(`proxy ${proxyId} was edited during each of ${PROBES_PER_EDIT} probes in a row; nothing recorded`);
      this.deps.logger.info('proxy edited while it was probed: that result is dropped and the new endpoint probed', { proxyId, name: proxy.name });
    }
  }

  private async probeOnce(proxy: ProxyToProbe, trigger: ProbeTrigger): Promise<ProbeResult | typeof ENDPOINT_CHANGED> {
    const settings = this.deps.settings();
    const started = performance.now();
    const endpoint = this.endpointOf(proxy);
    if ('failure' in endpoint) {
      countProbe(this.deps.metrics, endpoint.failure.result, (performance.now() - started) / 1000);
      return this.record(proxy, endpoint.failure, trigger);
    }
    // The UDP check, when due, beside the probe on its own connection: it adds no time to the
    // probe's latency and its answer never decides the status.
    const udpChecking = udpCheckDue(proxy.udpCheckedAt, Date.now()) ? this.checkUdp(proxy, endpoint, settings) : undefined;
    const outcome = await this.run(proxy, endpoint, settings);
    countProbe(this.deps.metrics, outcome.result, (performance.now() - started) / 1000);
    if (outcome.ok) {
      // Stored whatever it found, a check that told nothing too: asked again after the relearn interval.
      const udp = await udpChecking;
      return this.record(proxy, outcome, trigger, udp === undefined ? undefined : { support: udp.support });
    }
    // A failure is recorded at once, not when the check is over (up to the probe timeout for a
    // proxy silent to UDP ASSOCIATE): its clients are blocked on it. Nothing of the check is stored
    // then: it is asked again at the next probe, so a proxy learns it as soon as it is up.
    udpChecking?.catch((error: unknown) => this.deps.logger.warn('UDP ASSOCIATE check failed', { proxyId: proxy.id, error: String(error) }));
    return this.record(proxy, outcome, trigger);
  }

  /**
   * The liveness connection saw the proxy at `watched` die (refused, reset, silent): recorded like a
   * failed probe that could not reach the proxy, without waiting for one, and down at once whatever
   * fail_threshold says (record). A watch of an address the proxy no longer has (edited, its watch
   * not yet replaced) records nothing.
   */
  async recordLoss(watched: { readonly id: number; readonly host: string; readonly port: number }, error: string): Promise<ProbeResult | null> {
    const proxy = await this.find(watched.id);
    if (proxy.host !== watched.host || proxy.port !== watched.port) return null;
    // The watch reports every failed reconnect; one failure on record per outage is enough, unless
    // a recovery began since: the loss resets it, and (recorded as starting now) makes a probe that
    // dialed before it history only, so that probe's success cannot complete the recovery. Not
    // recorded, the loss still marks its time: a probe that dialed before it cannot begin one.
    if (proxy.status === 'down' && proxy.consecutiveSuccesses === 0) {
      await markLoss(this.deps.db, proxy);
      return null;
    }
    const result = await this.record(proxy, { ok: false, result: 'connect_failed', reachedProxy: false, error }, 'liveness', undefined, true);
    return result === ENDPOINT_CHANGED ? null : result;
  }

  private async find(proxyId: number): Promise<ProxyToProbe> {
    const proxy = await findProxy(this.deps.db, proxyId);
    if (proxy === undefined) throw new ProxyNotFoundError(`proxy ${proxyId} does not exist`);
    return proxy;
  }

  /**
   * Applies an outcome to the proxy's status and history, then metrics and the transition notice;
   * ENDPOINT_CHANGED, nothing applied, when the row no longer has the endpoint `proxy` had.
   * `endpointGone`: the liveness watch's own loss (recordLoss).
   */
  private async record(proxy: ProxyToProbe, outcome: ProbeOutcome, trigger: ProbeTrigger, udp?: ProbeRecord['udp'], endpointGone = false): Promise<ProbeResult | typeof ENDPOINT_CHANGED> {
    const { db, logger, metrics } = this.deps;
    const proxyId = proxy.id;
    const settings = this.deps.settings();
    // fail_threshold counts layer-7 probes, which can fail once for nothing; a liveness loss is the
    // proxy's TCP endpoint gone (refused, reset, keepalive unanswered): its clients are blocked now.
    // Not a probe the watch asked for (its trigger is 'liveness' too): a slow connect, or a
    // reconnect after a loss, only asks; that probe's failure is a probe's, counted as any.
    const thresholds = endpointGone ? { ...settings, failThreshold: 1 } : settings;
    const checkedAt = new Date();
    const error = this.observe(proxy, outcome, settings);
    const recorded = await recordProbe(
      db,
      {
        proxyId,
        trigger,
        checkedAt,
        ok: outcome.ok,
        latencyMs: outcome.ok ? outcome.latencyMs : null,
        exitIp: outcome.ok ? outcome.exitIp : null,
        error,
        probed: proxy,
        ...(outcome.ok && outcome.handshakeLearned !== null ? { learned: outcome.handshakeLearned } : {}),
        ...(udp !== undefined ? { udp } : {}),
      },
      thresholds,
    );
    const result: ProbeResult = {
      proxyId,
      ok: outcome.ok,
      latencyMs: outcome.ok ? outcome.latencyMs : null,
      exitIp: outcome.ok ? outcome.exitIp : null,
      error,
      checkedAt: checkedAt.toISOString(),
    };
    if ('skipped' in recorded) {
      if (recorded.skipped === 'endpoint_changed') return ENDPOINT_CHANGED;
      if (recorded.skipped === 'deleted') logger.info('proxy deleted while being probed; result not recorded', { proxyId });
      // superseded: a probe that started later was applied first; this one is in the history only.
      else logger.info('a later probe of the proxy was applied first: this result is in the history only', { proxyId, ok: outcome.ok, trigger });
      return result;
    }
    if (recorded.udpSupport.next !== recorded.udpSupport.previous) {
      logger.info('proxy UDP support learned', { proxyId, name: proxy.name, udpSupport: recorded.udpSupport.next, previous: recorded.udpSupport.previous });
    }
    const label = String(proxyId);
    metrics.proxyUp.set({ proxy: label }, recorded.next.status === 'up' ? 1 : 0);
    if (outcome.ok) metrics.proxyLatencyMs.set({ proxy: label }, outcome.latencyMs);
    else metrics.proxyLatencyMs.remove({ proxy: label });
    if (outcome.ok && recorded.previousExitIp !== null && recorded.previousExitIp !== outcome.exitIp) {
      await this.publishExitIpChange(proxy, recorded.previousExitIp, outcome.exitIp);
    }
    if (outcome.ok) await this.judgeExitIp(proxy, outcome.exitIp, recorded.sharedWith, recorded.exitDiffers ? outcome.proxyAddress : null);
    if (recorded.next.status !== recorded.previous.status) await this.publishTransition(proxy, recorded.previous.status, recorded.next.status, result, trigger);
    return result;
  }

  /** Drops what is remembered about a deleted proxy. */
  forget(proxyId: number): void {
    this.latest.delete(proxyId);
    this.exitIpAlarms.forget(proxyId);
  }

  /** The proxy as a dial needs it (its password unsealed), or the failure to record. */
  private endpointOf(proxy: ProxyToProbe): ProxyEndpoint | { readonly failure: ProbeOutcome } {
    try {
      return {
        protocol: proxy.protocol,
        host: proxy.host,
        port: parsePort(proxy.port),
        ...(proxy.username !== null ? { username: proxy.username } : {}),
        ...(proxy.passwordEnc !== null ? { password: decryptSecret(proxy.passwordEnc, this.deps.secretKey) } : {}),
      };
    } catch (error) {
      // Fail closed: a proxy we cannot dial correctly is down, with the reason on record.
      return { failure: { ok: false, result: 'invalid_request', reachedProxy: false, error: `cannot prepare the dial: ${(error as Error).message}` } };
    }
  }

  private run(proxy: ProxyToProbe, endpoint: ProxyEndpoint, settings: Settings): Promise<ProbeOutcome> {
    return probeThroughProxy(dialerFor(endpoint.protocol), endpoint, checkTargetFromUrl(settings.checkUrl), {
      timeoutMs: settings.probeTimeoutMs,
      trustedCa: this.deps.trustedCa,
      checkProxyAddress: this.deps.checkProxyAddress,
      handshake: { mode: proxy.handshakeMode, learned: proxy.handshakeLearned },
    });
  }

  /** Whether the proxy carries UDP (udp-learning.ts), with the handshake the forwarder's associations use. */
  private async checkUdp(proxy: ProxyToProbe, endpoint: ProxyEndpoint, settings: Settings): Promise<UdpCheck> {
    const check = await checkUdpSupport(endpoint, {
      timeoutMs: settings.probeTimeoutMs,
      handshake: handshakeToUse(proxy.handshakeMode, proxy.handshakeLearned),
      checkProxyAddress: this.deps.checkProxyAddress,
    });
    if (check.support === null) this.deps.logger.info('UDP ASSOCIATE check told nothing; asked again later', { proxyId: proxy.id, error: check.error });
    return check;
  }

  /**
   * Feeds the check-target verdict (one working proxy clears it) and returns the error to record:
   * the failure's message, plus a pointer at the check target when it fails through every proxy.
   */
  private observe(proxy: ProxyToProbe, outcome: ProbeOutcome, settings: Settings): string | null {
    const now = Date.now();
    const probe = { ok: outcome.ok, reachedProxy: outcome.ok || outcome.reachedProxy, atMs: now, startedAtMs: Date.parse(proxy.readAt) };
    this.latest.set(proxy.id, laterProbe(this.latest.get(proxy.id), probe));
    const verdict = judgeCheckTarget(this.latest.values(), now, settings.healthIntervalS * 1000 + settings.probeTimeoutMs);
    if (verdict.suspected !== this.targetSuspected) this.reportTargetVerdict(verdict.suspected, verdict.considered, settings);
    if (outcome.ok) return null;
    if (!verdict.suspected) return outcome.error;
    return `${outcome.error} (the check URL fails through all ${verdict.considered} recently probed proxies: the check target is the likely problem; proxies stay blocked)`;
  }

  private reportTargetVerdict(suspected: boolean, proxies: number, settings: Settings): void {
    this.targetSuspected = suspected;
    this.deps.metrics.checkTargetSuspected.set(suspected ? 1 : 0);
    const checkUrl = checkTargetFromUrl(settings.checkUrl).label;
    if (suspected) {
      this.deps.logger.error('check URL fails through every proxy: the check target is the likely problem, not the proxies (they stay blocked, fail closed)', {
        checkUrl,
        proxies,
      });
    } else {
      this.deps.logger.info('check URL answers through a proxy again', { checkUrl });
    }
  }

  /** Exit-IP alarms (issue 17): the metric follows every probe, a notice and a log line go out when one appears. */
  private async judgeExitIp(proxy: ProxyToProbe, exitIp: string, sharedWith: readonly { proxyId: number; name: string }[], differsFrom: string | null): Promise<void> {
    const { bus, logger, metrics } = this.deps;
    let gatewayAddresses: readonly string[];
    try {
      gatewayAddresses = this.deps.gatewayAddresses();
    } catch (error) {
      // An alarm must never fail the probe it judges (the proxy would be reported down): without
      // the gateway's addresses only the `gateway_address` alarm is skipped.
      logger.warn('cannot read the gateway\'s own addresses: the "proxy does not proxy" alarm is skipped', { proxyId: proxy.id, error: (error as Error).message });
      gatewayAddresses = [];
    }
    const { announce, raised } = this.exitIpAlarms.update(proxy.id, exitIpAlarms(exitIp, gatewayAddresses, sharedWith, differsFrom));
    for (const kind of EXIT_IP_ALARM_KINDS) metrics.exitIpAlarm.set({ proxy: String(proxy.id), kind }, raised.has(kind) ? 1 : 0);
    for (const alarm of announce) {
      logger.warn('proxy exit IP alarm', { proxyId: proxy.id, name: proxy.name, kind: alarm.kind, exitIp, others: alarm.others });
      try {
        await bus.publish({ type: 'proxy.exit_ip_alarm', proxyId: proxy.id, name: proxy.name, ...alarm, others: [...alarm.others] });
      } catch (error) {
        logger.warn('cannot publish proxy.exit_ip_alarm (Redis down?)', { proxyId: proxy.id, error: (error as Error).message });
      }
    }
  }

  /** Logged and announced (the console shows a banner); the new address is already in Postgres. */
  private async publishExitIpChange(proxy: ProxyToProbe, previous: string, exitIp: string): Promise<void> {
    const { bus, logger } = this.deps;
    logger.warn('proxy exit IP changed', { proxyId: proxy.id, name: proxy.name, previous, exitIp });
    try {
      await bus.publish({ type: 'proxy.exit_ip_changed', proxyId: proxy.id, name: proxy.name, previous, exitIp });
    } catch (error) {
      logger.warn('cannot publish proxy.exit_ip_changed (Redis down?)', { proxyId: proxy.id, error: (error as Error).message });
    }
  }

  private async publishTransition(proxy: ProxyToProbe, previous: ProxyStatus, status: ProxyStatus, result: ProbeResult, trigger: ProbeTrigger): Promise<void> {
    const { bus, logger } = this.deps;
    logger.info('proxy status changed', { proxyId: proxy.id, name: proxy.name, previous, status, trigger, error: result.error, exitIp: result.exitIp });
    try {
      await bus.publish({ type: 'proxy.status', proxyId: proxy.id, status, previous, latencyMs: result.latencyMs, exitIp: result.exitIp, error: result.error });
    } catch (error) {
      // The status is in Postgres; the agent's periodic resync picks it up without the notice.
      logger.warn('cannot publish proxy.status (Redis down?); the dataplane resync will see it', { proxyId: proxy.id, error: (error as Error).message });
    }
  }
}
