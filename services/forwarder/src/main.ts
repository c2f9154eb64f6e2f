import { BootLogger, runService } from '@pgw/runtime';
import { serveCachedStateEarly } from './boot.js';
import { loadForwarderConfig } from './config.js';

/** What a graceful stop may take beyond the drain: status write, bus, db. */
const STOP_MARGIN_MS = 5_000;

/**
 * How long the heavy modules wait for the cached state to be served. Loading them (a second of CPU
 * and more on a busy small box) while the agent's sockets arrive and the listeners open put that
 * second on a rebooted gateway's first relays; an agent that is not up by then only delays them.
 */
const SERVE_FIRST_MAX_MS = 2_000;

await runService('forwarder', async () => {
  const mainStartedMs = performance.now();
  const config = loadForwarderConfig();
  const bootLogger = new BootLogger('forwarder', config.logLevel);
  const core = await serveCachedStateEarly(config, bootLogger.logger, mainStartedMs);
  await Promise.race([core.served, new Promise((resolve) => setTimeout(resolve, SERVE_FIRST_MAX_MS))]);
  // Loaded only now: the cached state is served, or the agent is late (then it is served once it answers).
  const { createLogger } = await import('@pgw/log');
  const logger = createLogger('forwarder', config.logLevel);
  bootLogger.attach(logger);
  const { startForwarder } = await import('./service.js');
  return { logger, stop: await startForwarder(config, logger, core), stopTimeoutMs: config.drainTimeoutMs + STOP_MARGIN_MS };
});
