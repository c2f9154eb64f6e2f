import type { Logger } from '@pgw/log';

/** What a started service hands back: how to stop it gracefully. */
export type StopFn = () => Promise<void>;

/** What start() hands back. */
export interface StartedService {
  logger: Logger;
  stop: StopFn;
  /** How long a graceful stop may take before the process exits anyway (default 10 s); known only after the config is read. */
  stopTimeoutMs?: number;
}

/**
 * Starts a service and owns its process lifecycle. A start that fails prints one line,
 * `pgw-<name>: cannot start: <reason>`, and exits 1; SIGTERM/SIGINT stop it gracefully.
 */
export async function runService(name: string, start: () => Promise<StartedService>): Promise<void> {
  let started: StartedService;
  try {
    started = await start();
  } catch (error) {
    process.stderr.write(`pgw-${name}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  const { logger, stop, stopTimeoutMs = 10_000 } = started;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    const timer = setTimeout(() => {
      logger.error('graceful stop timed out, exiting');
      process.exit(1);
    }, stopTimeoutMs);
    timer.unref();
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: Error) => {
        logger.error('stop failed', { error: error.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('unhandledRejection', (reason) => {
    // A programming error: its stack is what finds it (a message alone named no place).
    logger.error('unhandled rejection, exiting', { error: reason instanceof Error ? reason.message : String(reason), stack: reason instanceof Error ? reason.stack : undefined });
    process.exit(1);
  });
}
