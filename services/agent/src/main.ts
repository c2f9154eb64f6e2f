import { runService } from '@pgw/runtime';
import { enforceStateFileEarly } from './boot.js';
import { loadAgentConfig } from './config.js';
import { StateCache } from './state-cache.js';

await runService('agent', async () => {
  const config = loadAgentConfig();
  const stateCache = new StateCache(config.PGW_STATE_DIR);
  const early = await enforceStateFileEarly(config, stateCache);
  // Loaded only now: the state file is already in force while these heavy modules load.
  const { startAgent } = await import('./agent.js');
  return startAgent(config, stateCache, early);
});
