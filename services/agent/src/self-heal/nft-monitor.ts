import { createInterface } from 'node:readline';
import type { Logger } from '@pgw/log';
import { execa, type ResultPromise } from 'execa';
import { NftMonitorParser, type NftTransaction, PROBE_TABLE } from './nft-monitor-events.js';

export interface NftMonitorOptions {
  nftBin: string;
  logger: Logger;
  /** Every complete transaction but the readiness marker. */
  onTransaction(transaction: NftTransaction): void;
  /**
   * Each time a monitor is subscribed (the first start and every restart): what happened while
   * none was may have been missed. pidsComparable: the kernel's pids are the agent's (not so in a
   * container with its own pid namespace).
   */
  onReady(pidsComparable: boolean): void;
  onUp(up: boolean): void;
}

const PROBE_SCRIPT = `add table inet ${PROBE_TABLE}\ndelete table inet ${PROBE_TABLE}\n`;
const PROBE_RETRY_MS = 100;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;

/**
 * Runs `nft monitor` (netlink events of nftables, in the agent's network namespace) and restarts
 * it when it dies, after 100 ms and doubling up to 5 s. While none runs, the reconciler's periodic
 * verify is what still restores table inet pgw.
 */
export class NftMonitor {
  private child: ResultPromise | null = null;
  private stopping = false;
  private restartMs = RESTART_MIN_MS;
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly options: NftMonitorOptions) {}

  start(): void {
    this.stopping = false;
    this.spawn();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (child) {
      child.kill('SIGTERM');
      await child.catch(() => undefined);
    }
  }

  private spawn(): void {
    const { nftBin, logger } = this.options;
    const child = execa(nftBin, ['monitor'], { buffer: false, reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' });
    this.child = child;
    // A new parser: a transaction half-read by a dead monitor is not continued.
    const parser = new NftMonitorParser();
    const probePids = new Set<number>();
    let ready = false;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-500)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const transaction = parser.line(line);
      if (!transaction) return;
      if (!transaction.probe) return this.options.onTransaction(transaction);
      if (ready) return;
      ready = true;
      this.restartMs = RESTART_MIN_MS;
      const comparable = transaction.pid !== null && probePids.has(transaction.pid);
      logger.info('nft monitor subscribed', { pid: child.pid, ownTransactionsByPid: comparable });
      this.options.onUp(true);
      this.options.onReady(comparable);
    });
    // The marker proves the subscription (nft monitor prints nothing when it starts); repeated
    // until seen, since one sent before the subscription is not shown.
    const probe = async () => {
      while (!ready && this.child === child && !this.stopping) {
        const writer = execa(nftBin, ['-f', '-'], { input: PROBE_SCRIPT, reject: false, timeout: 10_000 });
        if (writer.pid !== undefined) probePids.add(writer.pid);
        const result = await writer;
        if (result.exitCode !== 0) logger.warn('nft monitor readiness marker failed', { error: String(result.stderr).trim().slice(0, 300) });
        await new Promise((resolve) => setTimeout(resolve, PROBE_RETRY_MS));
      }
    };
    void probe();
    void child.then((result) => {
      if (this.child === child) this.child = null;
      this.options.onUp(false);
      if (this.stopping) return;
      logger.error('nft monitor exited; restarting it (the periodic verify covers inet pgw meanwhile)', {
        exitCode: result.exitCode,
        signal: result.signal,
        stderr: stderr.trim(),
        restartInMs: this.restartMs,
      });
      this.restartTimer = setTimeout(() => this.spawn(), this.restartMs);
      this.restartMs = Math.min(this.restartMs * 2, RESTART_MAX_MS);
    });
  }
}
