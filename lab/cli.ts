/**
 * Lab command line (used by the demo):
 *   node --import tsx lab/cli.ts up [--clients N] [--proxies socks5,http,...] [--ha] [--state FILE]
 *   node --import tsx lab/cli.ts down --state FILE
 *   node --import tsx lab/cli.ts status --state FILE
 * `up` leaves the lab's processes running detached and writes its JSON description to FILE; `--ha`
 * makes it an HA pair's lab (lab/ha-topology.ts: a second gateway namespace, node b, on the same LAN
 * and WAN, and per-node Redis users), which `down` removes with the rest.
 */
import { existsSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createHaLab } from './ha-topology.js';
import { createLab } from './lab.js';
import { execIn } from './netns.js';
import { isSameProcessAlive } from './proc.js';
import { readState, writeState } from './state.js';
import { waitTcpPort } from './tcp-probe.js';
import { teardownLab } from './teardown.js';
import type { LabDescription, ProxyKind } from './types.js';

const USAGE = 'usage: cli.ts up [--clients N] [--proxies kind,...] [--ha] [--state FILE] | down --state FILE | status --state FILE';

async function up(clients: string | undefined, proxies: string | undefined, state: string | undefined, ha: boolean): Promise<void> {
  const count = clients === undefined ? 4 : Number(clients);
  if (!Number.isInteger(count)) throw new Error(`--clients ${JSON.stringify(clients)} is not an integer`);
  const started = Date.now();
  const options = {
    clients: count,
    proxies: proxies?.split(',').map((kind) => kind.trim() as ProxyKind),
    detached: true,
    onProgress: (line: string) => console.log(line),
  };
  const lab = ha ? (await createHaLab(options)).lab : await createLab(options);
  const file = state ?? `${lab.dir}/state.json`;
  if (state) writeState(state, lab.description);
  console.log(`lab ${lab.id} up in ${Date.now() - started} ms; state: ${file}`);
  for (const proxy of lab.proxies) console.log(`  ${proxy.kind.padEnd(11)} ${proxy.url}`);
  console.log(`  redis       ${lab.redis.socketPath}`);
}

async function down(file: string): Promise<void> {
  const d = readState(file);
  const started = Date.now();
  console.log(`lab ${d.id}: stopping ${d.processes.length} processes, deleting namespaces`);
  await teardownLab(d);
  if (existsSync(file)) rmSync(file);
  console.log(`lab ${d.id} down in ${Date.now() - started} ms`);
}

async function status(d: LabDescription): Promise<boolean> {
  let healthy = true;
  const line = (ok: boolean, text: string) => {
    healthy &&= ok;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${text}`);
  };
  const listed = (await execIn(undefined, ['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]);
  for (const [role, ns] of Object.entries(d.namespaces)) line(listed.includes(ns), `namespace ${role} ${ns}`);
  for (const p of d.processes) line(isSameProcessAlive(p.pid, p.startTime), `process ${p.name} pid ${p.pid}`);
  for (const proxy of d.proxies) {
    const ok = await waitTcpPort(d.namespaces.gateway, proxy.ip, proxy.port, 1000).then(() => true, () => false);
    line(ok, `proxy ${proxy.kind} ${proxy.ip}:${proxy.port} reachable from the gateway`);
  }
  const ping = await execIn(undefined, ['redis-cli', '-s', d.redis.socketPath, 'ping'], { reject: false, timeoutMs: 2000 });
  line(ping.stdout.trim() === 'PONG', `redis ${d.redis.socketPath}`);
  const echo = await waitTcpPort(d.namespaces.gateway, d.internet.ip, d.internet.httpPort, 1000).then(() => true, () => false);
  line(echo, `echo server ${d.internet.echoUrl} reachable from the gateway`);
  return healthy;
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: { clients: { type: 'string' }, proxies: { type: 'string' }, state: { type: 'string' }, ha: { type: 'boolean' } },
  });
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new Error(`unexpected arguments: ${extra.join(' ')}\n${USAGE}`);
  switch (command) {
    case 'up':
      await up(values.clients, values.proxies, values.state, values.ha ?? false);
      return 0;
    case 'down':
      if (!values.state) throw new Error(`down needs --state FILE\n${USAGE}`);
      await down(values.state);
      return 0;
    case 'status':
      if (!values.state) throw new Error(`status needs --state FILE\n${USAGE}`);
      return (await status(readState(values.state))) ? 0 : 1;
    default:
      throw new Error(`unknown command ${JSON.stringify(command ?? '')}\n${USAGE}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`lab: ${err.message}`);
    process.exit(2);
  },
);
