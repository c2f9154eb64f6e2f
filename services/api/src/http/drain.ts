import type { Server } from 'node:http';
import type { Logger } from '@pgw/log';
import type { SseStreams } from '../live/sse-streams.js';

const IDLE_SWEEP_MS = 50;

/**
 * Graceful HTTP shutdown: stop accepting connections, end SSE streams cleanly, let requests in flight
 * finish and close each keep-alive connection as soon as it is idle; at the deadline, cut what is left.
 */
export async function drainServer(server: Server, streams: SseStreams, deadlineMs: number, logger: Logger): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  streams.endAll();
  server.closeIdleConnections();
  const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  const deadline = setTimeout(() => {
    logger.warn('requests still in flight at the shutdown deadline; closing their connections', { deadlineMs });
    server.closeAllConnections();
  }, deadlineMs);
  try {
    await closed;
  } finally {
    clearInterval(sweep);
    clearTimeout(deadline);
  }
}
