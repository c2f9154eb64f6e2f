import type { AuthContext } from '../auth/auth-context.js';

export interface SseStream {
  readonly auth: AuthContext;
  /** Ends the stream cleanly (the client sees the end of the response, not a reset). */
  end(): void;
}

/** The open SSE streams, so a revocation or a shutdown can end them instead of waiting for the client. */
export class SseStreams {
  private readonly open = new Set<SseStream>();

  add(stream: SseStream): () => void {
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
