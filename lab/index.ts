/**
 * pgw test lab: real network namespaces (gateway with ens19/eth0, LAN clients, WAN with an
 * IP-echo "internet" host, iperf3 and real dante/tinyproxy proxies) plus a private Redis.
 *   await cleanupStaleLabs(); const lab = await createLab({ clients: 4 }); ...; await lab.destroy();
 */
export type {
  Capture, CaptureOptions, Credentials, ExecOptions, ExecResult, HttpGetOptions, HttpGetResult, Lab, LabDescription,
  LabNamespaces, LabOptions, LabProcess, ProxyHandle, ProxyKind, RedisHandle, SpawnInLabOptions,
} from './types.js';
export { createLab, LAB_PROXY_CREDENTIALS, PROXY_HOST_FASTOPEN } from './lab.js';
export { cleanupStaleLabs } from './cleanup.js';
export { startDante, startTinyproxy, type ProxyStartOptions } from './proxies.js';
export { startRedis } from './redis.js';
export { ensureSystemUsers, PGW_SYSTEM_USERS } from './system-users.js';
export { echoServerArgv } from './echo-command.js';
export { httpGet } from './http-get.js';
export { execIn, nsArgv } from './netns.js';
export { waitTcpPort } from './tcp-probe.js';
export { ADDR, PORTS, MAX_CLIENTS } from './topology.js';
export { LAB_ROOT, readState, trustedLabRoot } from './state.js';
export { teardownLab } from './teardown.js';
export { readTcpExt } from './tcp-ext.js';
