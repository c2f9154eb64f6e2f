import { API_BASE } from '../api/http.js';
import { LIVE_EVENT_TYPES, type LiveEvent } from '../api/types.js';

export type StreamState = 'connecting' | 'live' | 'disconnected';

export interface EventStreamHandlers {
  onEvent(event: LiveEvent): void;
  /** Every (re)connect: the caller reloads its snapshot, since notices may have been missed. */
  onOpen(): void;
  onState(state: StreamState): void;
  /**
   * The stream dropped. The api ends the stream of a revoked or expired session, and EventSource
   * never says why (a 401 on the reconnect looks like any error): the caller asks the api.
   */
  onDrop(): void;
}

/**
 * The API's SSE stream, authenticated by the session cookie (EventSource sends cookies and cannot
 * send headers). The browser retries a dropped stream by itself; when it gives up (an HTTP error
 * such as 401 or 503 closes the EventSource) we open a new one with backoff.
 */
export function openEventStream(handlers: EventStreamHandlers): { close(): void } {
  let source: EventSource | null = null;
  let closed = false;
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const connect = () => {
    handlers.onState('connecting');
    source = new EventSource(`${API_BASE}/events`, { withCredentials: true });
    source.onopen = () => {
      attempt = 0;
      handlers.onState('live');
      handlers.onOpen();
    };
    source.onerror = () => {
      if (closed || !source) return;
      handlers.onState('disconnected');
      handlers.onDrop();
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        const delay = Math.min(10_000, 500 * 2 ** attempt++);
        retryTimer = setTimeout(connect, delay);
      }
    };
    for (const type of LIVE_EVENT_TYPES) {
      source.addEventListener(type, (message) => {
        try {
          handlers.onEvent({ ...JSON.parse((message as MessageEvent<string>).data), type } as LiveEvent);
        } catch {
          // A notice we cannot parse changes nothing: the periodic reload still converges.
        }
      });
    }
  };
  connect();
  return {
    close() {
      closed = true;
      clearTimeout(retryTimer);
      source?.close();
      source = null;
    },
  };
}
