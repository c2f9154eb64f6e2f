import type { Logger } from '@pgw/log';

/** What a started service hands back: how to stop it gracefully. */
export type StopFn = () => Promise<void>;

export interface RunOptions {
  /** How long a graceful stop may take before the process exits anyway. */
  stopTimeoutMs?: number;
}

/**
 * Starts a service and owns its process lifecycle. A start that fails prints one line,
 * `pgw-<name>: cannot start: <reason>`, and exits 1; SIGTERM/SIGINT stop it gracefully.
 */
export async function runService(name: string, start: () => Promise<{ logger: Logger; stop: StopFn }>, options: RunOptions = {}): Promise<void> {
  let started: { logger: Logger; stop: StopFn };
  try {
    started = await start();
  } catch (error) {
    process.stderr.write(`pgw-${name}: cannot start: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
  const { logger, stop } = started;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    const timer = setTimeout(() => {
      logger.error('graceful stop timed out, exiting');
      process.exit(1);
    }, options.stopTimeoutMs ?? 10_000);
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
    logger.error('unhandled rejection, exiting', { error: reason instanceof Error ? reason.message : String(reason) });
    process.exit(1);
  });
}
