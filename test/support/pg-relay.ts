/**
 * A lab's own way to Postgres: a socat relay from a Unix socket in the lab's directory to the
 * machine's cluster socket. Services given relay.url(...) reach their test database only through
 * it, so stopping the relay is "Postgres is down" for this lab alone (open connections are cut,
 * new ones fail), and freezing it is "Postgres is silent", while the shared cluster and every other
 * test keep running.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab, LabProcess } from '../../lab/index.js';
import { waitFor } from '../../lab/wait.js';
import { signalGroup } from '../../lab/proc.js';

const HOST_PARAM = /([?&]host=)([^&]*)/;

export class PgRelay {
  readonly dir: string;
  private readonly socket: string;
  private readonly target: string;
  private proc: LabProcess | undefined;

  constructor(private readonly lab: Lab, private readonly clusterSocketDir: string, port = 5432) {
    this.dir = join(lab.dir, 'pg-relay');
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    this.socket = join(this.dir, `.s.PGSQL.${port}`);
    this.target = join(clusterSocketDir, `.s.PGSQL.${port}`);
  }

  /** The socket directory of a libpq-style URL (its host= parameter). */
  static socketDirOf(url: string): string {
    const match = HOST_PARAM.exec(url);
    if (!match) throw new Error('PgRelay: the database URL has no host= socket directory');
    return decodeURIComponent(match[2]!);
  }

  /** The same URL through the relay. */
  url(direct: string): string {
    if (PgRelay.socketDirOf(direct) !== this.clusterSocketDir) throw new Error('PgRelay: the URL is for another cluster socket');
    return direct.replace(HOST_PARAM, `$1${encodeURIComponent(this.dir)}`);
  }

  get running(): boolean {
    return this.proc?.isAlive() ?? false;
  }

  async start(): Promise<void> {
    if (this.running) throw new Error('PgRelay: already running');
    // fork: one child per connection, all in the relay's process group, so stop() cuts them all.
    this.proc = await this.lab.spawn('', ['socat', `UNIX-LISTEN:${this.socket},fork,mode=0777,unlink-early`, `UNIX-CONNECT:${this.target}`], { name: 'pg-relay' });
    const proc = this.proc;
    await waitFor(`the Postgres relay socket ${this.socket}`, 5000, () => {
      if (!proc.isAlive()) throw new Error(`the Postgres relay exited; see ${proc.logFile}`);
      return statSync(this.socket, { throwIfNoEntry: false })?.isSocket() ?? false;
    }, { intervalMs: 20 });
  }

  /**
   * Postgres gone silent rather than down: the relay and each connection's child are stopped
   * (SIGSTOP), so connections stay open and new ones are accepted by the kernel, but nothing is
   * answered, as when a network drops packets or the database host loses power. thaw() ends it.
   */
  freeze(): void {
    if (!this.proc) throw new Error('PgRelay: not running');
    process.kill(-this.proc.pid, 'SIGSTOP');
  }

  /** A relay already gone (it exited, or never started) is nothing to thaw: stop() goes on, and the caller's cleanup after it. */
  thaw(): void {
    if (this.proc) signalGroup(this.proc.pid, 'SIGCONT');
  }

  /** Stops the relay and every connection through it. */
  async stop(): Promise<void> {
    this.thaw(); // a stopped process would not act on SIGTERM
    await this.proc?.stop(1000);
    this.proc = undefined;
  }
}
