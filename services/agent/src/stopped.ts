/**
 * `node services/agent/dist/stopped.js`: run after the agent exited, however it exited (systemd
 * ExecStopPost=, the Compose entrypoint, the demo's and tests' supervisor). Switches route_localnet
 * off on every interface the agent switched it on for: without the agent nobody keeps the ruleset
 * that closes its 127.0.0.0/8 hole, and the forwarding backstop stays as it is (always off).
 * Reads only PGW_STATE_DIR; loads nothing else, so it runs in a fraction of a second.
 */
import { readFile } from 'node:fs/promises';
import { loadConfig } from '@pgw/config';
import { agentConfigFields } from './config.js';
import { LanSysctl } from './lan/lan-sysctl.js';

const config = loadConfig(agentConfigFields.pick({ PGW_STATE_DIR: true, PGW_IP_BIN: true }), process.env);
try {
  const reset = await new LanSysctl(config.PGW_STATE_DIR, config.PGW_IP_BIN).resetAll();
  process.stdout.write(`pgw-agent-stopped: route_localnet off on ${reset.length > 0 ? reset.join(', ') : 'no interface (none was on)'}\n`);
  // The kernel ORs `all` with each interface's: at 1 the LAN stays open to 127.0.0.0/8 (build-policy.ts localnetRefusal).
  if ((await readFile('/proc/sys/net/ipv4/conf/all/route_localnet', 'utf8')).trim() !== '0') {
    process.stderr.write('pgw-agent-stopped: net.ipv4.conf.all.route_localnet is 1, so every interface, the LAN included, still accepts packets to 127.0.0.0/8; set it to 0\n');
  }
} catch (error) {
  process.stderr.write(`pgw-agent-stopped: cannot switch route_localnet off: ${(error as Error).message}\n`);
  process.exitCode = 1;
}
