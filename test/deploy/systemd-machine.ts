/**
 * The systemd test's machine: a Debian host booting systemd as PID 1 in a container
 * (docker/systemd.Dockerfile) whose network namespace is the lab's gateway; commands in it, its
 * units' properties, and the boot timestamps systemd keeps. The container shares the kernel's
 * CLOCK_MONOTONIC with this process (no time namespace), so systemd's *TimestampMonotonic values and
 * monoNowUs() are on one clock.
 */
import { waitFor } from '../../lab/wait.js';
import type { ExecResult } from '../../lab/types.js';
import { type Service } from './deploy-lab.js';
import type { DockerDaemon } from './docker-daemon.js';

export const MACHINE = 'pgw-machine';
/** CLOCK_MONOTONIC now, in µs: systemd's *TimestampMonotonic unit. */
export const monoNowUs = () => Number(process.hrtime.bigint() / 1000n);

export class Machine {
  constructor(private readonly daemon: DockerDaemon) {}

  exec(argv: readonly string[], reject = true): Promise<ExecResult> {
    return this.daemon.docker(['exec', MACHINE, ...argv], { reject });
  }

  systemctl(...args: string[]): Promise<ExecResult> {
    return this.exec(['systemctl', ...args]);
  }

  /** `systemctl show` properties of a unit. */
  async show(unit: string, props: readonly string[]): Promise<Record<string, string>> {
    const out = (await this.systemctl('show', unit, ...props.map((p) => `--property=${p}`))).stdout;
    return Object.fromEntries(out.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  /** A *TimestampMonotonic property in µs (0: it never happened since the machine booted). */
  async monotonic(unit: string, prop: string): Promise<number> {
    return Number((await this.show(unit, [prop]))[prop]);
  }

  /** A property of the manager itself (systemd, PID 1), e.g. UserspaceTimestampMonotonic: when it started. */
  async manager(prop: string): Promise<number> {
    return Number((await this.systemctl('show', `--property=${prop}`, '--value')).stdout.trim());
  }

  /** The JSON log line of `unit` in this boot's journal whose message is `message` (undefined: none). */
  async logged(unit: string, message: string): Promise<Record<string, unknown> | undefined> {
    const lines = (await this.exec(['journalctl', '-b', '-u', unit, '-o', 'cat', '--no-pager'])).stdout.split('\n');
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry.message === message) return entry;
    }
    return undefined;
  }

  async mainPid(service: Service): Promise<number> {
    return Number((await this.show(`pgw-${service}`, ['MainPID'])).MainPID);
  }

  /** Resolves once systemd has finished booting (running, or degraded: which units failed is in the message). */
  async booted(timeoutMs = 60_000): Promise<string> {
    let state = '';
    await waitFor('systemd in the machine to finish booting', timeoutMs, async () => {
      state = (await this.exec(['systemctl', 'is-system-running'], false)).stdout.trim();
      return state === 'running' || state === 'degraded';
    }, { intervalMs: 100, retryErrors: true, detail: () => state });
    if (state === 'degraded') state += `: ${(await this.systemctl('--failed', '--no-legend', '--plain')).stdout}`;
    return state;
  }

  /** The live `systemd-analyze security` exposure of a unit. */
  async exposure(unit: string): Promise<number> {
    const security = (await this.exec(['systemd-analyze', 'security', '--no-pager', unit])).stdout;
    const found = /Overall exposure level for \S+: ([\d.]+)/.exec(security)?.[1];
    if (found === undefined) throw new Error(`${unit}: no exposure line in:\n${security.slice(-500)}`);
    return Number(found);
  }
}
