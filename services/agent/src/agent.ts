import { readFile } from 'node:fs/promises';
import { createDb } from '@pgw/db';
import { CLIENT_USAGE_KEY, connectRedis, EventBus, parseClientUsageHash } from '@pgw/events';
import { createMetricsRegistry, serveMetricsWhenFree } from '@pgw/metrics';
import { type StopFn, withDeadline } from '@pgw/runtime';
import type { Logger } from '@pgw/log';
import { AccountingPublisher } from './accounting/accounting-publisher.js';
import { ClientRefusals } from './accounting/client-refusals.js';
import type { RefusalReading } from './accounting/client-refusal-reading.js';
import { flowCapRefusals, tcpRateRefusals } from './accounting/refusal-kinds.js';
import type { EarlyEnforcement } from './boot.js';
import { type AgentConfig, reservedPorts, vrrpPeerOf } from './config.js';
import { deleteClientConnections } from './conntrack/conntrack.js';
import { DesiredSource, tablesToLoad } from './policy/desired-source.js';
import { startHaReporting } from './ha/ha-state.js';
import { createHostFactsReader } from './policy/host-facts.js';
import { LanNeighbours } from './neighbours/lan-neighbours.js';
import { NeighbourReporter } from './neighbours/neighbour-report.js';
import { LanSysctl } from './lan/lan-sysctl.js';
import { allowTimeWaitReuse } from './lan/time-wait-reuse.js';
import type { ListenerRegistry } from './listeners/listener-registry.js';
import { createAgentMetrics } from './metrics.js';
import { openGuardFile } from './self-heal/guard-restore.js';
import { createNft } from './ruleset/nft.js';
import { OwnWriters } from './self-heal/nft-monitor-events.js';
import { uidFromPasswd } from './listeners/passwd.js';
import { type ReconcileOutcome, Reconciler } from './ruleset/reconciler.js';
import { loadDesiredStateIfChanged } from './repositories/desired-state.js';
import { ProxyHostResolver } from './policy/resolve-hosts.js';
import { SelfHeal } from './self-heal/self-heal.js';
import type { StateCache } from './policy/state-cache.js';
import { heldQuotaCounts, QuotaBlocks, quotaStemsAtBoot } from './quota/quota-block.js';
import { type PolicyBuild, SettingsRefused } from './policy/build-policy.js';
import { quotaPeriodAt, type QuotaSettings } from './quota/quota-period.js';
import { stemOf } from './quota/quota-table.js';
import { Shaper } from './shaping/shaper.js';
import { PolicyReadiness } from './readiness.js';
import { RepeatedFailure } from './repeated-failure.js';
import { StatusReporter } from './status.js';

/** Notices that can change the desired state; the others (our own, the forwarder's) cannot. */
const RELEVANT = new Set(['mapping.changed', 'proxy.changed', 'config.changed', 'proxy.status']);
/** Every n-th periodic resync reads the host's listeners in full (about every 10 s at the default interval). */
const HOST_RESCAN_EVERY_RESYNCS = 10;
/** keepalived's state file is read this often: a failover shows in the status within it (goal 3 s). */
const HA_POLL_MS = 200;

/**
 * The forwarder's listening sockets (created by main.ts before the boot fast path), whom they are
 * for, and the listener socket main.ts serves them on right after that path.
 */
export interface AgentListeners {
  readonly registry: ListenerRegistry;
  readonly forwarder: { readonly uid: number; readonly gid: number };
  readonly server: { close(): void; askHandback(ports: readonly number[]): void };
  /** What to do once the forwarder handed back sockets (until set: nothing, the start run reads them anyway). */
  onAdopted(handler: () => void): void;
}

/** How long a stop waits for its last usage sample (under runService's stop timeout). */
const FINAL_SAMPLE_MS = 2_000;

/** Everything but the boot fast path (boot.ts), which has already put the state file in force. */
export async function startAgent(config: AgentConfig, stateCache: StateCache, early: EarlyEnforcement, listeners: AgentListeners, logger: Logger): Promise<{ logger: Logger; stop: StopFn }> {
  if (early.error) logger.error('state file not enforced at boot, waiting for Postgres', { error: early.error });
  if (early.leftOut) logger.warn('state file partly left out (its policy is enforced): what is left out waits for the database', { reason: early.leftOut });
  if (early.policy && !early.error) logger.info('state file enforced at boot', { clients: early.policy.clients.length, ms: Math.round(early.ms), enforcedAt: new Date(early.doneAt).toISOString() });
  const timeWaitNotReused = await allowTimeWaitReuse();
  if (timeWaitNotReused !== null) logger.warn('net.ipv4.tcp_tw_reuse not set: one client churning short connections can spend the local ports toward a shared proxy', { error: timeWaitNotReused });
  const passwd = await readFile('/etc/passwd', 'utf8');
  const strictUids = [config.PGW_FORWARDER_USER, config.PGW_HEALTH_USER].map((name, i) => {
    try {
      return uidFromPasswd(passwd, name);
    } catch (error) {
      throw new Error(`${i === 0 ? 'PGW_FORWARDER_USER' : 'PGW_HEALTH_USER'}: ${(error as Error).message}`);
    }
  });
  const registry = createMetricsRegistry('agent');
  const recordMetrics = createAgentMetrics(registry);
  // The pids of the agent's own nft writers: the self-heal leaves their transactions alone.
  const ownWriters = new OwnWriters(() => performance.now());
  const nft = createNft(config.PGW_NFT_BIN, (pid) => ownWriters.add(pid));
  const guard = await openGuardFile(config.PGW_NFT_BIN, config.PGW_GUARD_FILE, (pid) => ownWriters.add(pid));
  const db = createDb(config.PGW_DATABASE_URL, { applicationName: 'pgw-agent', maxConnections: 2, serviceRole: 'pgw_agent' });
  const bus = new EventBus({ redisUrl: config.PGW_REDIS_URL, logger });
  const statusRedis = connectRedis(config.PGW_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  statusRedis.on('error', () => undefined);
  const status = new StatusReporter(statusRedis, bus, logger, config.PGW_NODE_NAME);
  // Device discovery: the LAN's neighbour table, read on the interface of the policy in force.
  const neighbourReport = new NeighbourReporter(statusRedis, logger, config.PGW_NODE_NAME);

  const shaper = new Shaper({
    bins: { tc: config.PGW_TC_BIN, nft: config.PGW_NFT_BIN, ip: config.PGW_IP_BIN },
    onError: (error) => logger.error('per-client shaping not applied', { error: error.message }),
    onWriter: (pid) => ownWriters.add(pid),
    now: () => Date.now(),
  });
  // The quota period in force: the settings the last build applied, before the first one the state
  // file's. Unknown (a state file of an older agent): no quota write, which under a guessed period
  // would delete the real period's objects with their counts.
  const quotaSettings = (): QuotaSettings | null =>
    // (Absent in a settings row: the columns' defaults.)
    desired.settings ? { period: desired.settings.quotaPeriod ?? 'monthly', timeZone: desired.settings.quotaResetTimezone ?? 'UTC' } : early.quota;
  const periodKeyNow = (quota: QuotaSettings | null) => (quota ? quotaPeriodAt(new Date(), quota.period, quota.timeZone).key : null);
  const quotaBlocks = new QuotaBlocks();
  // The state file's quota blocks stand until the stored counts are read and seeded (quota-block.ts):
  // after a reboot every quota object counts from zero until Redis answers, and the first run from
  // Postgres would otherwise serve a client that had used its whole quota (fail closed).
  // pgw's qdiscs may still be on the LAN interface the state file's policy had (moved while stopped).
  if (early.cached) shaper.leftOn(early.cached.lan.interface);
  const heldAtBoot = quotaStemsAtBoot(early.quotaOver, early.quotaPeriodKey, periodKeyNow(early.quota));
  if (heldAtBoot.length > 0) {
    // Non-empty only for a file of the period in force: its key is known.
    quotaBlocks.hold(heldAtBoot, early.quotaPeriodKey!);
    shaper.hold(heldQuotaCounts(heldAtBoot, early.quotaPeriodKey!, early.cached));
    logger.info('clients over quota in the state file stay blocked until the stored quota counts are read', { quotas: heldAtBoot });
  }
  const readiness = new PolicyReadiness(early);
  const failureLog = new RepeatedFailure();
  const report = (outcome: ReconcileOutcome) => {
    readiness.observe(outcome);
    recordMetrics(outcome);
    status.report(outcome);
    if (outcome.build) neighbourReport.setInterface(outcome.build.policy.lan.interface);
    // Limits follow the policy in force (table inet pgw first: a client is pinned before it is shaped),
    // also after a run that failed elsewhere (its state file, a LAN sysctl): build is what is in force.
    const quota = quotaSettings();
    if (outcome.build && quota) {
      shaper.sync(outcome.build.policy, quota).then(
        () => status.setShaping(shaper.problem),
        (error: Error) => logger.error('per-client shaping not applied', { error: error.message }),
      );
    }
    // After the apply: a socket closes only once no DNAT rule in force points at its port.
    const closed = listeners.registry.release(outcome.build?.policy ?? null);
    if (closed.length > 0) logger.info('closed the listening sockets of unmapped ports', { ports: closed });
    // A root socket keeps a port from us (the forwarder's copy of one we let go of): it hands it back when asked.
    const awaited = listeners.registry.awaitingHandback();
    if (awaited.length > 0) listeners.server.askHandback(awaited);
    const fields = { trigger: outcome.trigger, mode: outcome.mode, durationMs: Math.round(outcome.durationMs), phases: outcome.phases, drift: outcome.drift };
    if (!outcome.ok) {
      const told = failureLog.failed(outcome.errors.map((e) => `${e.cause}: ${e.message}`).join('; '), Date.now());
      if (told) logger.error('reconcile failed, previous ruleset kept where not applied', { ...fields, errors: outcome.errors, ...(told.repeatedSince > 0 ? { sameFailureSinceLastLine: told.repeatedSince } : {}) });
    } else {
      failureLog.succeeded();
      if (outcome.mode !== 'none') logger.info('ruleset applied', { ...fields, clients: outcome.build?.policy.clients.length });
    }
  };
  const vrrpPeer = vrrpPeerOf(config);
  const hostFacts = createHostFactsReader({ forwarderUid: strictUids[0]!, reserved: reservedPorts(config), guardFile: config.PGW_GUARD_FILE });
  const proxyHosts = new ProxyHostResolver();
  const desired = new DesiredSource({
    loadIfChanged: (known, tables, standIn) => loadDesiredStateIfChanged(db, known, tables, standIn),
    inForceAtStart: early.settings,
    resolve: (hosts) => proxyHosts.resolve(hosts),
    hostFacts,
    policyInput: {
      uids: strictUids,
      proxyAllowNetworks: config.PGW_PROXY_ALLOW_CIDRS,
      ...(vrrpPeer ? { vrrpPeer } : {}),
      flowsPerClient: config.PGW_FLOWS_PER_CLIENT,
      udpNewPerSecond: config.PGW_UDP_NEW_PER_CLIENT,
      tcpNewPerSecond: config.PGW_TCP_NEW_PER_CLIENT,
    },
  });
  const lanSysctl = new LanSysctl(config.PGW_STATE_DIR, config.PGW_IP_BIN);
  const neighbours = new LanNeighbours(config.PGW_IP_BIN);
  // Postgres away since this start: the state file's policy stands in for the rows, held again at
  // every run, so a forwarder's handback of its sockets unblocks their clients (a refused port is
  // the boot's, not the policy's). Its quota blocks stay as saved (fail closed: with an old state
  // file no quota table exists to judge them, and a rebooted one counts from zero until Redis
  // answers). Refused settings are not a load failure.
  const loadOrStateFile = async (triggers: ReadonlySet<string>): Promise<PolicyBuild> => {
    try {
      return await desired.load(tablesToLoad(triggers));
    } catch (error) {
      if (early.cached === null || desired.everRead || error instanceof SettingsRefused) throw error;
      return { policy: early.cached, rejected: [], refusals: [], loadFailed: (error as Error).message };
    }
  };
  const reconciler = new Reconciler({
    // Sockets before rules: every port of the snapshot gets a listening socket of ours, or its client is left out.
    // A client over its quota is blocked like any other (quota_exceeded) on top of the quota table's drop.
    loadDesired: async (triggers) => quotaBlocks.apply(listeners.registry.holdBuild(await loadOrStateFile(triggers))),
    applyScript: (script, kind) => (kind === 'delta' ? nft.applyDelta(script) : nft.apply(script)),
    listTable: () => nft.listTable(),
    listChains: () => nft.listChains(),
    prepareLan: async (policy, localnet) => {
      // TPROXY mode delivers without DNAT to 127.0.0.1: route_localnet stays off (issue 15).
      await lanSysctl.prepare(policy.lan.interface, localnet && policy.interceptMode !== 'tproxy', policy.interceptMode === 'tproxy');
      await neighbours.sync(policy);
    },
    disconnectClients: async (clients) => void (await deleteClientConnections(clients)),
    saveState: async (inForce) => {
      const started = performance.now();
      // After the run's report and before its notice is acknowledged: timed apart from the run.
      const quota = quotaSettings();
      const quotaPeriodKey = periodKeyNow(quota);
      // Sockets are judged anew by the next agent: our refusals are not saved, a quota block is.
      const policy = quotaBlocks.applyTo(listeners.registry.withoutOwnRefusals(inForce));
      if (await stateCache.save({ policy, quota, ...(quotaPeriodKey ? { quotaPeriodKey } : {}), quotaOver: quotaBlocks.stems, ...(desired.settings ? { settings: desired.settings } : {}) })) logger.info('state file written', { clients: policy.clients.length, ms: Math.round((performance.now() - started) * 10) / 10 });
    },
    report,
    now: () => performance.now(),
  });

  // Take over the boot path's policy: applied again in the same transaction shape (identical
  // table, no gap) and read back, so the reconciler starts from a verified state.
  if (early.policy) await reconciler.enforceCached(early.policy);
  // A forwarder that kept running hands back the sockets it holds as soon as it reaches us; their
  // clients are blocked until then and unblocked by the run this requests. Adopted before this
  // point: the start run below is the first to read the listeners.
  listeners.onAdopted(() => {
    hostFacts.invalidate();
    void reconciler.request('handback');
  });

  // Forked once now, while no change waits for it, rather than by the first delta.
  nft.warm();
  const selfHeal = new SelfHeal({ nftBin: config.PGW_NFT_BIN, guard, reconciler, own: ownWriters, logger, registry, now: () => performance.now(), quota: shaper });
  selfHeal.start();
  const stopHa = config.PGW_HA_STATE_FILE
    ? startHaReporting({ node: config.PGW_NODE_NAME, file: config.PGW_HA_STATE_FILE, intervalMs: HA_POLL_MS, redis: statusRedis, registry, bus, logger })
    : () => undefined;
  const metricsPort = await serveMetricsWhenFree(registry, config.PGW_METRICS_HOST, config.PGW_METRICS_PORT, {
    taken: (error) => logger.error('the metrics port is held by another process: enforcing without /metrics, /healthz and /readyz until it is free (keepalived sees this node unhealthy meanwhile)', { port: config.PGW_METRICS_PORT, error: error.message }),
    bound: () => logger.info('metrics port free again: serving /metrics, /healthz and /readyz', { port: config.PGW_METRICS_PORT }),
  }, { hosts: { names: new Set(config.PGW_METRICS_HOSTNAMES), variable: 'PGW_METRICS_HOSTNAMES' }, readiness: readiness.readiness });
  const subscription = bus.subscribe({
    group: 'agent',
    node: config.PGW_NODE_NAME,
    handler: async ({ event }) => {
      if (RELEVANT.has(event.type)) await reconciler.request(`event:${event.type}`);
    },
  });
  let resyncs = 0;
  const resync = setInterval(() => {
    // The full read of the listeners (/proc/net/tcp and the agent's own descriptors, ~20 ms with
    // 4096 mappings) happens in a resync run, never in a notice-driven one.
    if (++resyncs % HOST_RESCAN_EVERY_RESYNCS === 0) hostFacts.invalidate();
    void reconciler.request('resync');
  }, config.PGW_RESYNC_INTERVAL_MS);
  void reconciler.request('start');
  neighbourReport.start();
  // One poll at a time: a listing slower than the interval would otherwise let an older reading land
  // after a newer one and flip a client over quota back (a status flap and an extra run each way).
  let quotaPolling = false;
  const quotaPoll = setInterval(() => {
    if (quotaPolling) return;
    quotaPolling = true;
    // A poll begun once the stored counts were seeded into applied objects reads counts that hold
    // them: only its verdict may replace the state file's held blocks. (Counts read before the
    // first apply wait in the shaper for it; until then a poll reads no object at all.)
    const afterSeed = storedSeeded && shaper.applied !== null;
    shaper
      .exceeded()
      .then(
        (over) => {
          status.setOverQuota(over);
          const changed = quotaBlocks.setOver([...over.values()].map((q) => stemOf(q.name)));
          const periodKey = shaper.applied?.window.key;
          const seeded = afterSeed && quotaBlocks.releaseHeld();
          const periodEnded = !seeded && periodKey !== undefined && quotaBlocks.releaseHeldOutside(periodKey);
          if (seeded) logger.info('stored quota counts read: the state file\'s quota blocks now follow the counts');
          if (periodEnded) logger.info('the state file\'s quota blocks ended with their quota period');
          if (changed || seeded || periodEnded) void reconciler.request('quota');
        },
        (error: Error) => logger.warn('cannot read the quota objects', { error: error.message }),
      )
      .finally(() => (quotaPolling = false));
  }, config.PGW_QUOTA_POLL_MS);
  const accounting = new AccountingPublisher({
    node: config.PGW_NODE_NAME,
    shaper,
    publish: (node, json) => statusRedis.hset(CLIENT_USAGE_KEY, node, json),
    perClientMetrics: () => desired.settings?.perClientMetrics ?? false,
    registry,
    logger,
  });
  // The stored quota counts (quota-store.ts: every node's published sample) seed the quota objects:
  // read at each connection to Redis (at start, before this agent's first sample can overwrite its
  // own field: one connection keeps the order), then after each sample (the other HA node's counts).
  let storedUnreadable = false;
  let storedSeeded = false;
  const readStoredCounts = () =>
    statusRedis.hgetall(CLIENT_USAGE_KEY).then(
      async (hash) => {
        storedUnreadable = false;
        // A raise that failed leaves the objects below the stored counts: the held blocks stay.
        if (await shaper.seed(parseClientUsageHash(hash))) storedSeeded = true;
      },
      (error: Error) => {
        if (!storedUnreadable) logger.warn('cannot read the stored quota counts', { key: CLIENT_USAGE_KEY, error: error.message });
        storedUnreadable = true;
      },
    );
  statusRedis.on('ready', () => void readStoredCounts());
  if (statusRedis.status === 'ready') void readStoredCounts();
  // While Redis is away the reconnection's 'ready' reads them: no failed read per sample meanwhile.
  const afterSample = async () => {
    if (statusRedis.status === 'ready') await readStoredCounts();
  };
  const usageTimer = setInterval(() => void accounting.tick().then(afterSample), config.PGW_USAGE_INTERVAL_MS);
  // One reading of the kernel's sets an interval, shared by the limits (each keeps its own counts and log).
  const kinds = [flowCapRefusals(config.PGW_FLOWS_PER_CLIENT), tcpRateRefusals(config.PGW_TCP_NEW_PER_CLIENT)];
  let reading: Promise<ReadonlyMap<string, RefusalReading> | null> = Promise.resolve(null);
  const refusals = kinds.map((kind) => new ClientRefusals({ kind, read: async () => (await reading)?.get(kind.set) ?? null, perClientMetrics: () => desired.settings?.perClientMetrics ?? false, registry, logger }));
  const refusalTimer = setInterval(() => {
    reading = nft.readRefusals(kinds.map((kind) => kind.set));
    reading.catch(() => undefined); // each limit logs the failure it reads
    for (const r of refusals) void r.tick();
  }, config.PGW_USAGE_INTERVAL_MS);
  logger.info('started', { stateDir: config.PGW_STATE_DIR, resyncIntervalMs: config.PGW_RESYNC_INTERVAL_MS });

  return {
    logger,
    // The ruleset stays in force after the agent stops: enforcement never depends on it running.
    stop: async () => {
      clearInterval(resync);
      clearInterval(quotaPoll);
      clearInterval(usageTimer);
      clearInterval(refusalTimer);
      // A last sample: the counts the next agent (or the other node) seeds its quotas from are those
      // of this stop, not of the last periodic sample; the quota objects read now, not at the last
      // poll. Bounded: Redis or nft away must not hold the stop.
      const lastSample = shaper.exceeded().then(() => accounting.tick());
      await withDeadline(lastSample, FINAL_SAMPLE_MS, 'the last usage sample was not published in time').catch((error: Error) => logger.warn('no last usage sample at the stop', { error: error.message }));
      neighbourReport.stop();
      // The listening sockets stay open until exit, and after it in the forwarder that holds them.
      listeners.server.close();
      await selfHeal.stop();
      await subscription.stop();
      await reconciler.idle();
      nft.close();
      stopHa();
      await bus.close();
      statusRedis.disconnect();
      await db.destroy();
      await metricsPort.close();
    },
  };
}

