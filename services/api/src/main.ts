import { createLogger } from '@pgw/log';
import { runService } from '@pgw/runtime';
import { loadApiConfig } from './config.js';
import { startApi } from './start-api.js';

await runService('api', async () => {
  const config = loadApiConfig();
  const logger = createLogger('api', config.PGW_LOG_LEVEL);
  const api = await startApi({ config, logger });
  return { logger, stop: api.stop };
});
