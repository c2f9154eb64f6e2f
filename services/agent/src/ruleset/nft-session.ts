import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

/**
 * What `nft describe meta mark` prints: a command that touches no table and always succeeds, sent
 * after each transaction so that its answer marks where that transaction's output ends.
 */
const MARKER_COMMAND = 'describe meta mark';
const MARKER_OUTPUT = 'meta expression, datatype mark (packet mark) (basetype integer), 32 bits\n';

/**
 * One long-running `nft -i` in the agent's namespace for its set-element deltas. Starting an nft
 * per change cost 10-20 ms on 2 busy cores, most of it the agent's fork (it holds ~100 MB and
 * libuv waits for the child's exec) and nft's own start; a transaction through this session takes
 * 1-2 ms. nft commits each input line as one transaction (its commands joined by `;`), so a delta
 * is still all or nothing, and its errors (stderr, through the same pipe) come before the marker's
 * answer. The process is started on first use and again after it exited or timed out.
 * Full rulesets (multi-line table blocks) keep their own `nft -f -` (nft.ts).
 */
export class NftSession {
  private child: ChildProcessWithoutNullStreams | null = null;
  private output = '';
  private wake: (() => void) | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly bin: string,
    /** Called with the session's pid before each transaction: the self-heal tells the agent's own commits apart by it. */
    private readonly onWrite: (pid: number) => void,
    private readonly timeoutMs = 10_000,
  ) {}

  /** One transaction of `lines` (nft commands, one per line); rejects with nft's error, the kernel keeping what it had. */
  run(lines: string): Promise<void> {
    const run = this.queue.then(() => this.transaction(lines));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Starts the nft process now (at the agent's start), so that the first change does not pay for it. */
  warm(): void {
    this.started();
  }

  close(): void {
    this.child?.kill('SIGTERM');
    this.child = null;
  }

  private async transaction(lines: string): Promise<void> {
    const commands = lines.split('\n').filter((l) => l.trim() !== '');
    if (commands.length === 0) return;
    const child = this.started();
    this.output = '';
    this.onWrite(child.pid);
    child.stdin.write(`${commands.join('; ')}\n${MARKER_COMMAND}\n`);
    const deadline = Date.now() + this.timeoutMs;
    let end: number;
    while ((end = this.output.indexOf(MARKER_OUTPUT)) === -1) {
      if (this.child !== child) throw new Error(`nft -i exited: ${firstLines(this.output)}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        this.close();
        throw new Error(`nft -i gave no answer within ${this.timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    const said = this.output.slice(0, end).trim();
    this.output = this.output.slice(end + MARKER_OUTPUT.length);
    if (said !== '') throw new Error(`nft failed: ${firstLines(said)}`);
  }

  private started(): ChildProcessWithoutNullStreams & { pid: number } {
    if (this.child?.pid !== undefined) return this.child as ChildProcessWithoutNullStreams & { pid: number };
    // sh only joins nft's stderr to its stdout (one pipe keeps an error before the marker) and execs it: same pid.
    const child = spawn('/bin/sh', ['-c', 'exec "$0" -i 2>&1', this.bin], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
      this.wake?.();
    });
    const gone = () => {
      if (this.child === child) this.child = null;
      this.wake?.();
    };
    child.on('exit', gone);
    child.on('error', gone);
    // An nft that died leaves a broken pipe: the transaction fails through `gone`, not through an unhandled stream error.
    child.stdin.on('error', () => undefined);
    if (child.pid === undefined) throw new Error(`cannot start ${this.bin} -i`);
    this.child = child;
    return child as ChildProcessWithoutNullStreams & { pid: number };
  }
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 6).join(' | ').slice(0, 1000);
}
