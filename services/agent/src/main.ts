import { runService } from '@pgw/runtime';
import { enforceStateFileEarly } from './boot.js';
import { loadAgentConfig } from './config.js';
import { ListenerRegistry } from './listener-registry.js';
import { nativeListenerSyscalls, systemUser } from './listener-server.js';
import { StateCache } from './state-cache.js';

await runService('agent', async () => {
  const config = loadAgentConfig();
  const stateCache = new StateCache(config.PGW_STATE_DIR);
  // The forwarder's listening sockets are the agent's, created before any DNAT rule points at them.
  const forwarder = systemUser('PGW_FORWARDER_USER', config.PGW_FORWARDER_USER);
  const listeners = new ListenerRegistry(nativeListenerSyscalls, new Set([0, forwarder.uid]));
  const early = await enforceStateFileEarly(config, stateCache, listeners);
  // Loaded only now: the state file is already in force while these heavy modules load.
  const { startAgent } = await import('./agent.js');
  return startAgent(config, stateCache, early, { registry: listeners, forwarder });
});
