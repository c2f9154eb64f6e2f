import type { Router } from 'express';
import { compareStreamIds } from '@pgw/events';
import { strictRouter } from '../http/router.js';
import type { ApiContext } from '../context.js';
import { unavailable } from '../logic/domain-errors.js';
import { ApiError } from '../http/api-error.js';
import { MAX_STREAMS_PER_USER } from '../live/sse-streams.js';
import { validSessionUser } from '../repositories/users.js';

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;
/**
 * What the api holds for one stream whose client does not read before it ends that stream (its
 * EventSource resumes from the last id it got); without it a stream resuming from far back kept
 * the whole history in memory for a client that never read it.
 */
const MAX_UNREAD_BYTES = 1024 * 1024;

/**
 * Server-Sent Events: each browser tab gets the notices from where it left off (Last-Event-ID) or
 * from now, through the api's one shared tail (event-fanout.ts). Authentication is the session cookie (or a Bearer header), never a URL token.
 * A stream lives only as long as its token: it ends at once when this api revokes the token, and each
 * heartbeat re-checks the token in Postgres (expiry, revocation by anyone).
 */
export function eventRoutes(ctx: ApiContext): Router {
  const router = strictRouter();
  router.get('/api/v1/events', async (req, res) => {
    const auth = req.auth!;
    const resumeFrom = req.get('last-event-id');
    let last: string;
    try {
      last = await ctx.bus.lastId();
    } catch {
      throw unavailable('the event stream (Redis) is unavailable');
    }
    // The client's id only up to the stream's end: one beyond it (past uint64, which Redis refuses,
    // or far ahead) started the shared tail where nothing is ever read.
    const from = resumeFrom && STREAM_ID.test(resumeFrom) && compareStreamIds(resumeFrom, last) <= 0 ? resumeFrom : last;
    let ended = false;
    let unsubscribe = () => {};
    let heartbeat: NodeJS.Timeout | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      forget?.();
      unsubscribe();
      res.end();
    };
    // Taken before anything is written, in the same turn as the check: a burst cannot pass the limit.
    const forget = ctx.streams.add({ auth, end });
    if (forget === null) {
      res.setHeader('Retry-After', '5');
      throw new ApiError(429, 'too_many_requests', `too many open event streams (at most ${MAX_STREAMS_PER_USER} per user); close another console tab`);
    }
    // Its client may have left already (while the authentication or lastId() waited): 'close' has
    // fired then, and a listener added now never would; the stream would keep its place, its
    // subscription and its heartbeat until the token expired.
    req.on('close', end);
    if (req.destroyed || res.destroyed || res.socket === null || res.socket.destroyed) return end();
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store, no-transform', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n\n');
    const send = (frame: string) => {
      if (ended) return;
      res.write(frame);
      if (res.writableLength > MAX_UNREAD_BYTES) end();
    };
    // A revocation by this api between the authentication and the line above found no stream to
    // end: the token is checked once more, and notices flow only after that (Postgres unreachable:
    // kept, as a heartbeat keeps it).
    const subscribe = () => void (ended || (unsubscribe = ctx.events.subscribe(from, send)));
    validSessionUser(ctx.db, auth).then((user) => (user ? subscribe() : end()), subscribe);
    heartbeat = setInterval(() => {
      if (auth.expiresAt.getTime() <= Date.now()) return end();
      validSessionUser(ctx.db, auth).then(
        (user) => (user ? !ended && res.write(': heartbeat\n\n') : end()),
        // Postgres unreachable: the token cannot be re-checked now; keep the stream and check again next beat.
        () => !ended && res.write(': heartbeat\n\n'),
      );
    }, ctx.sseHeartbeatMs);
  });
  return router;
}
