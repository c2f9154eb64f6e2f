/**
 * Prints keepalived.conf for this node of an HA pair from environment variables (the settings of
 * keepalived-config.ts); a missing or bad variable is refused with one line naming it.
 *   PGW_HA_ROUTER_ID=pgw-a PGW_HA_PRIORITY=150 PGW_HA_SOURCE_IP=198.51.100.1 PGW_HA_PEER_IP=198.51.100.2 \
 *   PGW_HA_VIRTUAL_IP=192.168.2.1/24 node --conditions=pgw-source --import tsx deploy/keepalived/render.ts \
 *     > /etc/keepalived/keepalived.conf
 */
import { fields, loadConfig } from '@pgw/config';
import { execaSync } from 'execa';
import { z } from 'zod';
import { DEFAULT_CHECK_USER, renderKeepalivedConf } from './keepalived-config.js';

const schema = z.object({
  PGW_HA_ROUTER_ID: z.string(),
  PGW_HA_PRIORITY: z.coerce.number(),
  PGW_HA_SOURCE_IP: z.string(),
  PGW_HA_PEER_IP: z.string(),
  PGW_HA_VIRTUAL_IP: z.string().regex(/^[0-9.]+\/\d{1,2}$/, 'must be an IPv4 address with its prefix, e.g. 192.168.2.1/24'),
  PGW_HA_LAN_IF: z.string().default('ens19'),
  PGW_HA_VRRP_IF: z.string().default('eth0'),
  /** Default: the VRRP link (adverts over the WAN). */
  PGW_HA_WAN_IF: z.string().optional(),
  PGW_HA_VRID: z.coerce.number().default(18),
  PGW_HA_ADVERT_S: z.coerce.number().default(0.5),
  PGW_HA_PREEMPT_DELAY_S: z.coerce.number().default(30),
  PGW_AGENT_METRICS_PORT: fields.tcpPort.default(9101),
  PGW_FORWARDER_METRICS_PORT: fields.tcpPort.default(9102),
  PGW_HA_SCRIPT_DIR: z.string().default('/usr/local/lib/pgw'),
  /** The agent's PGW_HA_STATE_FILE. */
  PGW_HA_STATE_FILE: z.string().default('/var/lib/pgw/ha-state'),
  PGW_HA_EVENTS_FILE: z.string().default('/var/lib/pgw/ha-events.log'),
  PGW_HA_NOTIFY_FIFO: z.string().default('/run/pgw-ha-notify.fifo'),
  PGW_HA_CHECK_USER: z.string().default(DEFAULT_CHECK_USER),
});

const env = loadConfig(schema);
// keepalived drops a check whose user is missing and runs on unchecked: refuse before that.
if (execaSync('id', ['-u', '--', env.PGW_HA_CHECK_USER], { reject: false }).exitCode !== 0) {
  process.stderr.write(`render: PGW_HA_CHECK_USER: no user '${env.PGW_HA_CHECK_USER}' on this host (create it: useradd --system --no-create-home --shell /usr/sbin/nologin ${env.PGW_HA_CHECK_USER})\n`);
  process.exit(1);
}
const [virtualIp, prefix] = env.PGW_HA_VIRTUAL_IP.split('/') as [string, string];
process.stdout.write(renderKeepalivedConf({
  node: { routerId: env.PGW_HA_ROUTER_ID, priority: env.PGW_HA_PRIORITY, vrrpSourceIp: env.PGW_HA_SOURCE_IP, peerIp: env.PGW_HA_PEER_IP },
  virtualIp,
  virtualPrefix: Number(prefix),
  lanInterface: env.PGW_HA_LAN_IF,
  wanInterface: env.PGW_HA_WAN_IF ?? env.PGW_HA_VRRP_IF,
  vrrpInterface: env.PGW_HA_VRRP_IF,
  virtualRouterId: env.PGW_HA_VRID,
  advertIntervalS: env.PGW_HA_ADVERT_S,
  preemptDelayS: env.PGW_HA_PREEMPT_DELAY_S,
  healthPorts: { agent: env.PGW_AGENT_METRICS_PORT, forwarder: env.PGW_FORWARDER_METRICS_PORT },
  checkScript: `${env.PGW_HA_SCRIPT_DIR}/pgw-ha-check.sh`,
  notifyScript: `${env.PGW_HA_SCRIPT_DIR}/pgw-ha-notify.sh`,
  stateFile: env.PGW_HA_STATE_FILE,
  eventsFile: env.PGW_HA_EVENTS_FILE,
  notifyFifo: env.PGW_HA_NOTIFY_FIFO,
  checkUser: env.PGW_HA_CHECK_USER,
}));
