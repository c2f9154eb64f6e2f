import { createLogger } from '@pgw/log';
import { runService, takeListenFds } from '@pgw/runtime';
import { loadApiConfig } from './config.js';
import { startApi } from './start-api.js';

await runService('api', async () => {
  const config = loadApiConfig();
  const logger = createLogger('api', config.PGW_LOG_LEVEL);
  // systemd's pgw-api.socket holds the port across restarts (docs/DEPLOYMENT.md); elsewhere none are passed.
  const api = await startApi({ config, logger, listenFds: takeListenFds() });
  return { logger, stop: api.stop };
});
