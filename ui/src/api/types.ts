/**
 * The console's API types: those of API_SPEC.yaml, generated (services/api/src/contract/), and the
 * live events of @pgw/events. None is written by hand.
 */
import type { PgwEvent } from '@pgw/events/contracts';

export type * from '@pgw/api/contract';

/**
 * SSE notices (`event:` = type; `data:` = the notice plus `at`, when it was published). The spec
 * describes them in prose only (GET /api/v1/events); their schema is @pgw/events' (docs/contracts.md).
 */
export type LiveEvent = PgwEvent & { at: string };

/** The types the console listens for: every event type, and no other (checked below). */
export const LIVE_EVENT_TYPES = [
  'proxy.status',
  'proxy.exit_ip_changed',
  'proxy.exit_ip_alarm',
  'mapping.changed',
  'proxy.changed',
  'config.changed',
  'agent.reconciled',
  'forwarder.upstream_failure',
  'ha.state_changed',
] as const satisfies readonly LiveEvent['type'][];
/** Compiles only while the console listens for every event type of @pgw/events. */
type ListensForAll<Unlistened extends never> = Unlistened;
export type UnlistenedEventTypes = ListensForAll<Exclude<LiveEvent['type'], (typeof LIVE_EVENT_TYPES)[number]>>;
