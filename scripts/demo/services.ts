import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nsArgv } from '../../lab/netns.js';
import { isSameProcessAlive, stopForeignGroup } from '../../lab/proc.js';
import { setprivArgv } from '../../lab/privileges.js';
import { spawnProcess } from '../../lab/process.js';

import { niceArgv, SERVICE_SPECS, type ServiceName, serviceMainArgv } from '../../lab/services.js';

export type DemoService = ServiceName;
/** The demo launches each service exactly as the tests do. */
export const DEMO_SERVICES = SERVICE_SPECS;

interface Record_ {
  pid: number;
  startTime: string;
  logFile: string;
}
type Registry = Partial<Record<DemoService, Record_>>;

export class ServiceRegistry {
  constructor(private readonly file: string) {}

  read(): Registry {
    return existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as Registry) : {};
  }

  isRunning(service: DemoService): boolean {
    const entry = this.read()[service];
    return entry !== undefined && isSameProcessAlive(entry.pid, entry.startTime);
  }

  async start(service: DemoService, gatewayNs: string, env: Record<string, string>, repoRoot: string, logDir: string): Promise<void> {
    const spec = DEMO_SERVICES[service];
    // The agent under its supervisor (guard/run-agent.sh): route_localnet goes off when it exits.
    const argv = [...setprivArgv(spec.uid, spec.caps, spec.groups), ...niceArgv(spec), ...serviceMainArgv(service)];
    const logFile = join(logDir, `${service}.log`);
    const proc = await spawnProcess(nsArgv(spec.inGateway ? gatewayNs : undefined, argv), { logFile, env, cwd: repoRoot, detached: true, name: service });
    const registry = this.read();
    registry[service] = { pid: proc.pid, startTime: proc.startTime, logFile };
    writeFileSync(this.file, JSON.stringify(registry, null, 2));
  }

  async stopAll(): Promise<void> {
    const registry = this.read();
    for (const service of ['api', 'health', 'forwarder', 'agent'] as DemoService[]) {
      const entry = registry[service];
      if (entry && isSameProcessAlive(entry.pid, entry.startTime)) await stopForeignGroup(entry.pid, entry.startTime, 10_000);
    }
    writeFileSync(this.file, '{}');
  }
}
