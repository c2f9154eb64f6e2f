import { runService } from '@pgw/runtime';
import { enforceStateFileEarly } from './boot.js';
import { loadAgentConfig } from './config.js';
import { ListenerRegistry } from './listener-registry.js';
import { nativeListenerSyscalls, startListenerServer, systemUser } from './listener-server.js';
import { StateCache } from './state-cache.js';

await runService('agent', async () => {
  const config = loadAgentConfig();
  const stateCache = new StateCache(config.PGW_STATE_DIR);
  // The forwarder's listening sockets are the agent's, created before any DNAT rule points at them.
  const forwarder = systemUser('PGW_FORWARDER_USER', config.PGW_FORWARDER_USER);
  const listeners = new ListenerRegistry(nativeListenerSyscalls, new Set([0, forwarder.uid]));
  const early = await enforceStateFileEarly(config, stateCache, listeners);
  // The forwarder gets the sockets of the rules now in force at once: they are served before the
  // heavy modules load (a second and more of CPU on a busy box), so the start of the rest of the
  // agent is no longer on the path of a rebooted gateway's first relayed connection.
  const { createLogger } = await import('@pgw/log');
  const logger = createLogger('agent', config.PGW_LOG_LEVEL);
  let onAdopted: () => void = () => undefined;
  const server = startListenerServer(
    { path: config.PGW_LISTENER_SOCKET, forwarderUid: forwarder.uid, forwarderGid: forwarder.gid, onAdopted: () => onAdopted() },
    listeners,
    logger,
  );
  // Loaded only now: the state file is already in force while these heavy modules load.
  const { startAgent } = await import('./agent.js');
  return startAgent(config, stateCache, early, { registry: listeners, forwarder, server, onAdopted: (handler) => void (onAdopted = handler) }, logger);
});
