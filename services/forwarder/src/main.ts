import { BootLogger, runService } from '@pgw/runtime';
import { serveCachedStateEarly } from './boot.js';
import { type BurstWait, burstAccepted } from './boot-burst.js';
import { loadForwarderConfig } from './config.js';

/** What a graceful stop may take beyond the drain: status write, bus, db. */
const STOP_MARGIN_MS = 5_000;

/**
 * How long the heavy modules wait for the cached state to be served. Loading them (a second of CPU
 * and more on a busy small box) while the agent's sockets arrive and the listeners open put that
 * second on a rebooted gateway's first relays; an agent that is not up by then only delays them.
 */
const SERVE_FIRST_MAX_MS = 2_000;

/**
 * Once the cache is served, the heavy modules also wait for the first burst of clients (a rebooted
 * gateway's clients all retry at once when the agent's DNAT rules land): loaded meanwhile, their
 * second of CPU ran in the event loop that relays that burst. Postgres' state replaces the cache
 * that much later (at most maxMs), as when Postgres is slow to answer, and so does healthz.
 */
const FIRST_BURST: BurstWait = { quietMs: 200, maxMs: 1_000 };

await runService('forwarder', async () => {
  const mainStartedMs = performance.now();
  const config = loadForwarderConfig();
  const bootLogger = new BootLogger('forwarder', config.logLevel);
  const core = await serveCachedStateEarly(config, bootLogger.logger, mainStartedMs);
  const servedInTime = await Promise.race([core.served.then(() => true), new Promise<false>((resolve) => setTimeout(resolve, SERVE_FIRST_MAX_MS, false))]);
  if (servedInTime && core.early !== null) await burstAccepted(() => core.stats.connectionsTotal, FIRST_BURST);
  // Loaded only now: the cached state is served, or the agent is late (then it is served once it answers).
  const { createLogger } = await import('@pgw/log');
  const logger = createLogger('forwarder', config.logLevel);
  bootLogger.attach(logger);
  const { startForwarder } = await import('./service.js');
  return { logger, stop: await startForwarder(config, logger, core), stopTimeoutMs: config.drainTimeoutMs + STOP_MARGIN_MS };
});
