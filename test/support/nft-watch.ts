import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { nsArgv } from '../../lab/index.js';

/** Timestamps each line of `nft monitor` in the gateway: when the agent's transactions hit the kernel. */
export class NftWatch {
  private readonly child: ChildProcess;
  private readonly waiters: { test: (line: string) => boolean; resolve: (at: number) => void }[] = [];

  constructor(ns: string) {
    const argv = nsArgv(ns, ['nft', 'monitor']);
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      const at = Date.now();
      for (const waiter of [...this.waiters]) {
        if (!waiter.test(line)) continue;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(at);
      }
    });
  }

  /** Resolves with the time the client is added to lan_blocked, or null after timeoutMs. */
  blocked(clientIp: string, timeoutMs: number): Promise<number | null> {
    const ip = new RegExp(`(^|[^\\d.])${clientIp.replace(/\./g, '\\.')}([^\\d.]|$)`);
    return new Promise((resolve) => {
      const waiter = { test: (line: string) => /^(add|create) element /.test(line) && line.includes('lan_blocked') && ip.test(line), resolve: (at: number | null) => resolve(at) };
      this.waiters.push(waiter);
      setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          resolve(null);
        }
      }, timeoutMs);
    });
  }

  stop(): void {
    this.child.kill('SIGTERM');
  }
}
