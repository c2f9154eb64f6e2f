import { createLogger } from '@pgw/log';
import { runService } from '@pgw/runtime';
import { loadForwarderConfig } from './config.js';
import { startForwarder } from './service.js';

/** What a graceful stop may take beyond the drain: status write, bus, db. */
const STOP_MARGIN_MS = 5_000;

await runService('forwarder', async () => {
  const config = loadForwarderConfig();
  const logger = createLogger('forwarder', config.logLevel);
  return { logger, stop: await startForwarder(config, logger), stopTimeoutMs: config.drainTimeoutMs + STOP_MARGIN_MS };
});
