/**
 * Footprint with 256 mappings (issue 3, v1.1 floor: agent under 5 % CPU idle, every service under
 * 128 MB): all four services in a lab, 256 effective mappings, then an idle window in which only
 * the periodic resyncs, probes and status writers run. Prints a table and one JSON line.
 *   node --conditions=pgw-source --import tsx test/bench/footprint.ts [--clients 256] [--idle-s 20]
 */
import { parseArgs } from 'node:util';
import { cleanupStaleLabs, createLab } from '../../lab/index.js';
import { createTestDatabase } from '../support/database.js';
import { Gateway, SERVICES, type ServiceName } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';
import { cpuMs, machineLoad, nodePid, rssMiB } from './ops-machine.js';

export interface Footprint {
  mappings: number;
  idleSeconds: number;
  cpuPercent: Record<ServiceName, number>;
  rssMiB: Record<ServiceName, number>;
}

const FLOOR = { agentIdleCpuPercent: 5, rssMiB: 128 };

/** Every client must exit through its own proxy before the idle window starts. */
async function waitAllEffective(gateway: Gateway, plan: { ip: string; expectedExitIp: string }[], timeoutMs: number): Promise<void> {
  let pending = plan;
  const round = async () => {
    const results = await Promise.all(
      pending.map(async (client) => {
        const reply = await gateway.lab.httpGet({ ns: gateway.lab.ns.lan, url: gateway.lab.description.internet.echoUrl, sourceIp: client.ip, timeoutMs: 2_000 });
        return reply.ok && reply.body.includes(`"${client.expectedExitIp}"`);
      }),
    );
    pending = pending.filter((_, i) => !results[i]);
    return pending.length === 0;
  };
  // Each round already waits for its requests: no pause between rounds.
  await waitFor(`all ${plan.length} clients effective`, timeoutMs, round, { intervalMs: 0, detail: () => `${pending.length} not yet, e.g. ${pending[0]?.ip}` });
}

export async function measureFootprint(clients: number, idleSeconds: number, log: (line: string) => void): Promise<Footprint> {
  await cleanupStaleLabs();
  const lab = await createLab({ clients, proxies: ['socks5', 'http'] });
  const database = await createTestDatabase({ prefix: 'pgw_fp' });
  const gateway = new Gateway(lab, database);
  try {
    await database.db.updateTable('settings').set({ checkUrl: lab.description.internet.echoUrl }).where('id', '=', 1).execute();
    const plan = await gateway.seedAllClients();
    for (const service of SERVICES) await gateway.start(service);
    log(`${clients} mappings seeded, services up; waiting until every client exits through its proxy`);
    await waitAllEffective(gateway, plan, 60_000);
    // The node process itself: the agent runs under guard/run-agent.sh, whose own CPU and RSS (a shell,
    // ~2 MB) the footprint printed as the agent's until this session.
    const pids = Object.fromEntries(SERVICES.map((s) => [s, nodePid(gateway.process(s)!.pid)])) as Record<ServiceName, number>;
    const before = Object.fromEntries(SERVICES.map((s) => [s, cpuMs(pids[s]) ?? 0])) as Record<ServiceName, number>;
    log(`all effective; idling ${idleSeconds} s (${machineLoad()})`);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const percent = (s: ServiceName) => Math.round((((cpuMs(pids[s]) ?? 0) - before[s]) / (idleSeconds * 1000)) * 1000) / 10;
    return {
      mappings: clients,
      idleSeconds,
      cpuPercent: Object.fromEntries(SERVICES.map((s) => [s, percent(s)])) as Record<ServiceName, number>,
      rssMiB: Object.fromEntries(SERVICES.map((s) => [s, Math.round(rssMiB(pids[s]) * 10) / 10])) as Record<ServiceName, number>,
    };
  } finally {
    await gateway.destroy();
    await database.drop();
    await lab.destroy();
  }
}

export function printFootprint(f: Footprint): void {
  console.log(`\nfootprint with ${f.mappings} mappings, idle ${f.idleSeconds} s (% of one core, RSS):`);
  console.log('service    cpu %   rss MiB');
  for (const service of SERVICES) console.log(`${service.padEnd(10)} ${String(f.cpuPercent[service]).padStart(5)}   ${String(f.rssMiB[service]).padStart(7)}`);
  const agentOk = f.cpuPercent.agent < FLOOR.agentIdleCpuPercent;
  const rssOk = SERVICES.every((s) => f.rssMiB[s] < FLOOR.rssMiB);
  console.log(`v1.1 floor: agent idle CPU < ${FLOOR.agentIdleCpuPercent} %: ${agentOk ? 'PASS' : 'MISS'}; every service < ${FLOOR.rssMiB} MB: ${rssOk ? 'PASS' : 'MISS'}`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { clients: { type: 'string', default: '256' }, 'idle-s': { type: 'string', default: '20' } } });
  const footprint = await measureFootprint(Number(values.clients), Number(values['idle-s']), (line) => console.log(line));
  printFootprint(footprint);
  console.log(JSON.stringify({ bench: 'footprint', at: new Date().toISOString(), load: machineLoad(), ...footprint }));
}
