import type { Logger } from '@pgw/log';

type Level = 'error' | 'warn' | 'info' | 'debug';
/** winston's npm levels (what @pgw/log uses): a message is written when its level is at or below the configured one. */
const SEVERITY: Readonly<Record<string, number>> = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };

/**
 * A service's boot fast path logger (the agent's and the forwarder's). @pgw/log (winston: some 80
 * modules, a few hundred ms of a busy small box's CPU) is loaded only once the fast path has served
 * what a rebooted gateway waits for; until then its few lines are written here, as the JSON lines
 * @pgw/log writes (the same fields: the meta, level, message, service, timestamp; keys sorted as its
 * serializer does), at once, so none waits for that module nor is lost if the start fails. Once
 * main.ts attaches the real logger every call goes to it. Only a type comes from @pgw/log here.
 */
export class BootLogger {
  private target: Logger | null = null;
  private readonly severity: number;
  /** What the serving core gets: the methods it uses, as a Logger. */
  readonly logger: Logger;

  constructor(
    private readonly service: string,
    level: string,
    private readonly write: (line: string) => void = (line) => void process.stdout.write(line),
  ) {
    this.severity = SEVERITY[level] ?? SEVERITY.info!;
    const log = (level: Level) => (message: string, meta?: Record<string, unknown>) => this.log(level, message, meta);
    this.logger = {
      error: log('error'),
      warn: log('warn'),
      info: log('info'),
      debug: log('debug'),
      isDebugEnabled: () => (this.target ? this.target.isDebugEnabled() : this.severity >= SEVERITY.debug!),
    } as unknown as Logger;
  }

  attach(target: Logger): void {
    this.target = target;
  }

  private log(level: Level, message: string, meta: Record<string, unknown> | undefined): void {
    if (this.target !== null) return void this.target.log(level, message, meta);
    if (SEVERITY[level]! > this.severity) return;
    const record: Record<string, unknown> = { ...meta, level, message, service: this.service, timestamp: new Date().toISOString() };
    const sorted = Object.fromEntries(Object.keys(record).sort().map((key) => [key, record[key]]));
    this.write(`${JSON.stringify(sorted)}\n`);
  }
}
