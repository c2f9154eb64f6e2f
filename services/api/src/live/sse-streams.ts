import type { AuthContext } from '../auth/auth-context.js';

export interface SseStream {
  readonly auth: AuthContext;
  /** Ends the stream cleanly (the client sees the end of the response, not a reset). */
  end(): void;
}

/**
 * Streams one user may hold at once: a console tab holds one, and a browser opens at most six
 * connections per host. Each may cost a Redis connection of its own (a resume from far back).
 */
export const MAX_STREAMS_PER_USER = 8;
/** Streams of all users together. */
export const MAX_STREAMS = 256;

/**
 * The open SSE streams, so a revocation or a shutdown can end them instead of waiting for the
 * client; and bounded, per user and in all.
 */
export class SseStreams {
  private readonly open = new Set<SseStream>();

  /** Returns the function that forgets the stream; null where the user, or the api, holds as many as it may. */
  add(stream: SseStream): (() => void) | null {
    if (this.open.size >= MAX_STREAMS) return null;
    let mine = 0;
    for (const other of this.open) if (other.auth.userId === stream.auth.userId) mine++;
    if (mine >= MAX_STREAMS_PER_USER) return null;
    this.open.add(stream);
    return () => this.open.delete(stream);
  }

  get size(): number {
    return this.open.size;
  }

  endWhere(matches: (auth: AuthContext) => boolean): void {
    for (const stream of [...this.open]) if (matches(stream.auth)) stream.end();
  }

  endAll(): void {
    this.endWhere(() => true);
  }
}
