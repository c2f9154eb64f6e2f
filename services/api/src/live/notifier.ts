import type { EventBus, PgwEvent } from '@pgw/events';
import type { Logger } from '@pgw/log';
import type { Publisher } from '../services/ports.js';

const PUBLISH_TIMEOUT_MS = 1_000;

/**
 * Publishes change notices after their transaction committed. A notice that cannot be published is
 * logged and dropped: the change is already in Postgres, and the agent's periodic resync applies it.
 */
export class Notifier implements Publisher {
  constructor(
    private readonly bus: EventBus,
    private readonly logger: Logger,
  ) {}

  async publish(event: PgwEvent): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.bus.publish(event),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer from Redis within ${PUBLISH_TIMEOUT_MS} ms`)), PUBLISH_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      this.logger.warn('change notice not published; the periodic resync will apply the change', { event: event.type, error: (error as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }
}
