import { createLogger } from '@pgw/log';
import { runService } from '@pgw/runtime';
import { serveCachedStateEarly } from './boot.js';
import { loadForwarderConfig } from './config.js';

/** What a graceful stop may take beyond the drain: status write, bus, db. */
const STOP_MARGIN_MS = 5_000;

await runService('forwarder', async () => {
  const config = loadForwarderConfig();
  const logger = createLogger('forwarder', config.logLevel);
  const core = await serveCachedStateEarly(config, logger);
  // Loaded only now: the cached state is served (once the agent answers) while these heavy modules load.
  const { startForwarder } = await import('./service.js');
  return { logger, stop: await startForwarder(config, logger, core), stopTimeoutMs: config.drainTimeoutMs + STOP_MARGIN_MS };
});
