import { createLogger } from '@pgw/log';
import { type RunOptions, runService } from '@pgw/runtime';
import { loadForwarderConfig } from './config.js';
import { startForwarder } from './service.js';

/** What a graceful stop may take beyond the drain: status write, bus, db. */
const STOP_MARGIN_MS = 5_000;

// runService reads stopTimeoutMs only when a stop begins, after start() has loaded the config.
const options: RunOptions = {};

await runService(
  'forwarder',
  async () => {
    const config = loadForwarderConfig();
    options.stopTimeoutMs = config.drainTimeoutMs + STOP_MARGIN_MS;
    const logger = createLogger('forwarder', config.logLevel);
    return { logger, stop: await startForwarder(config, logger) };
  },
  options,
);
