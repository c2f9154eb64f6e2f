import { Router } from 'express';
import type { ApiContext } from '../context.js';
import { unavailable } from '../http/api-error.js';

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/**
 * Server-Sent Events: each browser tab tails the notice stream from where it left off
 * (Last-Event-ID) or from now. Authentication is the session cookie (or a Bearer header), never a URL token.
 */
export function eventRoutes(ctx: ApiContext): Router {
  const router = Router();
  router.get('/api/v1/events', async (req, res) => {
    const resumeFrom = req.get('last-event-id');
    let from: string;
    if (resumeFrom && STREAM_ID.test(resumeFrom)) {
      from = resumeFrom;
    } else {
      try {
        from = await ctx.bus.lastId();
      } catch {
        throw unavailable('the event stream (Redis) is unavailable');
      }
    }
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n\n');
    const subscription = ctx.bus.tail(from, ({ id, at, event }) => {
      res.write(`id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify({ ...event, at: at.toISOString() })}\n\n`);
    });
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), ctx.sseHeartbeatMs);
    req.on('close', () => {
      clearInterval(heartbeat);
      void subscription.stop();
    });
  });
  return router;
}
