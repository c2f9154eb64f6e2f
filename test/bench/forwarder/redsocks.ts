/**
 * redsocks (Debian package) set up by hand in the lab's gateway namespace, as an operator would
 * without pgw: its own config, its own nft redirect rules (in that namespace only), one redsocks
 * section per proxy, each LAN client redirected to its section's port.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execIn, type Lab, type LabProcess, waitTcpPort } from '../../../lab/index.js';

export interface RedsocksRoute {
  client: string;
  localPort: number;
  proxy: { ip: string; port: number; type: 'socks5' | 'http-connect'; login?: string; password?: string };
}

const TABLE = 'pgw_bench_redsocks';

export function renderRedsocksConfig(routes: readonly RedsocksRoute[]): string {
  const sections = routes.map(
    (r) =>
      `redsocks {\n  local_ip = 0.0.0.0;\n  local_port = ${r.localPort};\n  ip = ${r.proxy.ip};\n  port = ${r.proxy.port};\n  type = ${r.proxy.type};\n` +
      (r.proxy.login === undefined ? '' : `  login = "${r.proxy.login}";\n  password = "${r.proxy.password ?? ''}";\n`) +
      '}\n',
  );
  // Debian's defaults (user redsocks, iptables redirector = SO_ORIGINAL_DST), in the foreground.
  return `base {\n  log_debug = off;\n  log_info = off;\n  log = stderr;\n  daemon = off;\n  user = redsocks;\n  group = redsocks;\n  redirector = iptables;\n}\n${sections.join('')}`;
}

/** REDIRECT from the LAN interface: the destination becomes the gateway's LAN address, where redsocks listens. */
export function renderRedsocksRules(lanIface: string, routes: readonly RedsocksRoute[]): string {
  const rules = routes.map((r) => `    iifname "${lanIface}" ip saddr ${r.client} meta l4proto tcp redirect to :${r.localPort}`);
  return `table ip ${TABLE} {\n  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n${rules.join('\n')}\n  }\n}\n`;
}

export interface Redsocks {
  readonly process: LabProcess;
  stop(): Promise<void>;
}

export async function startRedsocks(lab: Lab, routes: readonly RedsocksRoute[]): Promise<Redsocks> {
  const gw = lab.ns.gateway;
  const configFile = join(lab.dir, 'redsocks.conf');
  writeFileSync(configFile, renderRedsocksConfig(routes), { mode: 0o644 });
  const proc = await lab.spawn(gw, ['/usr/sbin/redsocks', '-c', configFile], { name: 'redsocks' });
  try {
    for (const r of routes) await waitTcpPort(gw, lab.description.gateway.lanIp, r.localPort);
    await execIn(gw, ['nft', '-f', '-'], { input: renderRedsocksRules(lab.description.gateway.lanIface, routes) });
  } catch (error) {
    await proc.stop();
    throw error;
  }
  return {
    process: proc,
    async stop() {
      await execIn(gw, ['nft', 'delete', 'table', 'ip', TABLE], { reject: false });
      await proc.stop();
    },
  };
}
