import { createLogger } from '@pgw/log';
import { runService } from '@pgw/runtime';
import { loadForwarderConfig } from './config.js';
import { startForwarder } from './service.js';

// Read once, before runService, so the graceful stop deadline can include the drain.
const drainMs = Number(process.env.PGW_FORWARDER_DRAIN_TIMEOUT_MS) || 5_000;

await runService(
  'forwarder',
  async () => {
    const config = loadForwarderConfig();
    const logger = createLogger('forwarder', config.logLevel);
    return { logger, stop: await startForwarder(config, logger) };
  },
  { stopTimeoutMs: drainMs + 5_000 },
);
