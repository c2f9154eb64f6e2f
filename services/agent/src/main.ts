import { withdrawFromEnvironment } from '@pgw/config';
import { GatewayAddresses } from '@pgw/domain';
import { BootLogger, GatewayAddressReader, runService } from '@pgw/runtime';
import { enforceStateFileEarly } from './boot.js';
import { AGENT_CREDENTIALS, loadAgentConfig } from './config.js';
import { ListenerRegistry } from './listeners/listener-registry.js';
import { type ListenerServer, nativeListenerSyscalls, startListenerServer, systemUser } from './listeners/listener-server.js';
import { StateCache } from './policy/state-cache.js';
import { startUdpSocketServer } from './listeners/udp-socket-server.js';

/**
 * How long the heavy modules wait for the forwarder's first request once a cached policy is in
 * force. Loading them (winston, the database, Redis and metrics modules: a second of CPU and more on
 * a busy small box) blocks the event loop, so a request arriving meanwhile waited for them and put
 * that time on a rebooted gateway's first relays; a forwarder that is not up by then only delays them.
 */
const SERVE_FIRST_MAX_MS = 1_000;

await runService('agent', async () => {
  const config = loadAgentConfig();
  withdrawFromEnvironment(AGENT_CREDENTIALS);
  const bootLogger = new BootLogger('agent', config.PGW_LOG_LEVEL);
  const stateCache = new StateCache(config.PGW_STATE_DIR);
  // The forwarder's listening sockets are the agent's, created before any DNAT rule points at them.
  const forwarder = systemUser('PGW_FORWARDER_USER', config.PGW_FORWARDER_USER);
  const listeners = new ListenerRegistry(nativeListenerSyscalls, new Set([0, forwarder.uid]));
  let onAdopted: () => void = () => undefined;
  let answered: () => void = () => undefined;
  const forwarderAnswered = new Promise<void>((resolve) => (answered = resolve));
  // The forwarder gets the sockets of the cached policy as soon as they are held, while nft applies
  // and before the heavy modules load, so the start of the rest of the agent is not on the path of
  // a rebooted gateway's first relayed connection. Its lines go out through the boot logger until then.
  let server: ListenerServer | null = null;
  const serve = () =>
    (server ??= startListenerServer(
      {
        path: config.PGW_LISTENER_SOCKET,
        forwarderUid: forwarder.uid,
        forwarderGid: forwarder.gid,
        onAdopted: () => onAdopted(),
        onAnswered: () => answered(),
      },
      listeners,
      bootLogger.logger,
    ));
  const early = await enforceStateFileEarly(config, stateCache, listeners, serve);
  // No cached policy (or it could not be read): served now, with nothing held yet.
  const listenerServer = serve();
  // TPROXY mode's transparent UDP sockets (issue 15): beside the listener socket, for the same forwarder.
  const addresses = new GatewayAddressReader((error) => bootLogger.logger.warn('cannot read the gateway\'s addresses: the last ones read stand in', { error: error.message }));
  const udpServer = startUdpSocketServer(
    {
      listenerSocket: config.PGW_LISTENER_SOCKET,
      forwarderUid: forwarder.uid,
      forwarderGid: forwarder.gid,
      policy: () => listeners.policy,
      gatewayAddresses: () => new GatewayAddresses(addresses.current()),
    },
    bootLogger.logger,
  );
  if (early.policy !== null) await Promise.race([forwarderAnswered, new Promise((resolve) => setTimeout(resolve, SERVE_FIRST_MAX_MS))]);
  // Loaded only now: the state file is in force and the forwarder served (or late) while these load.
  const { createLogger } = await import('@pgw/log');
  const logger = createLogger('agent', config.PGW_LOG_LEVEL);
  bootLogger.attach(logger);
  const { startAgent } = await import('./agent.js');
  return startAgent(config, stateCache, early, { registry: listeners, forwarder, server: { close: () => (listenerServer.close(), udpServer.close()), askHandback: (ports) => listenerServer.askHandback(ports) }, onAdopted: (handler) => void (onAdopted = handler) }, logger);
});
