import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LanCommand, LanReply } from './lan-client.js';

const PROGRAM = fileURLToPath(new URL('./lan-client.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));

type Command = LanCommand extends infer C ? (C extends { id: number } ? Omit<C, 'id'> : never) : never;
type Answer = Extract<LanReply, { id: number }>;

/** The test side of lan-client.ts: one long-lived process in the LAN namespace. */
export class LanClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (answer: Answer) => void>();
  private readonly closedWaiters = new Map<string, (event: Extract<LanReply, { event: 'closed' }>) => void>();
  private readonly closedEvents = new Map<string, Extract<LanReply, { event: 'closed' }>>();
  private seq = 0;
  private stderr = '';
  readonly ready: Promise<void>;

  constructor(ns: string) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', PROGRAM], { cwd: REPO });
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-2000)));
    this.ready = new Promise((resolve, reject) => {
      this.waiting.set(0, () => resolve());
      this.child.once('exit', (code) => reject(new Error(`lan client exited (${code}): ${this.stderr}`)));
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as LanReply;
      if ('event' in message) {
        const waiter = this.closedWaiters.get(message.key);
        if (waiter) waiter(message);
        else this.closedEvents.set(message.key, message);
        return;
      }
      this.waiting.get(message.id)?.(message);
      this.waiting.delete(message.id);
    });
  }

  /** Sends a command; rejects when the client reports an error or does not answer in time. */
  run(command: Command, answerTimeoutMs = 60_000): Promise<Extract<Answer, { ok: true }>> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`lan client: no answer to ${command.op} in ${answerTimeoutMs} ms; ${this.stderr}`));
      }, answerTimeoutMs);
      this.waiting.set(id, (answer) => {
        clearTimeout(timer);
        if (answer.ok) resolve(answer);
        else reject(new Error(`lan client ${command.op}: ${answer.error}`));
      });
      this.child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  /** Resolves when a held connection ends, with how it ended; rejects after timeoutMs. */
  closed(key: string, timeoutMs: number): Promise<Extract<LanReply, { event: 'closed' }>> {
    const early = this.closedEvents.get(key);
    if (early) return Promise.resolve(early);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.closedWaiters.delete(key);
        reject(new Error(`held connection ${key} still open after ${timeoutMs} ms`));
      }, timeoutMs);
      this.closedWaiters.set(key, (event) => {
        clearTimeout(timer);
        this.closedWaiters.delete(key);
        resolve(event);
      });
    });
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill('SIGKILL');
  }
}
