import type { PgwEventType } from './events.js';

/**
 * Each service publishes into its own stream, `<base>:<publisher>`, because a Redis ACL can limit
 * which keys a user writes but not what an entry says: with one shared stream the api could XADD a
 * forged `proxy.status`. Consumers also refuse a notice found in a stream its type does not belong
 * to, so even a stream's rightful writer cannot speak for another service.
 */
export const EVENT_PUBLISHERS = ['api', 'health', 'forwarder', 'agent'] as const;
export type EventPublisher = (typeof EVENT_PUBLISHERS)[number];

/** Who may publish each notice; a new event type does not compile until it has one. */
export const PUBLISHER_OF: Readonly<Record<PgwEventType, EventPublisher>> = {
  'mapping.changed': 'api',
  'proxy.changed': 'api',
  'config.changed': 'api',
  'proxy.status': 'health',
  'proxy.exit_ip_changed': 'health',
  'proxy.exit_ip_alarm': 'health',
  'forwarder.upstream_failure': 'forwarder',
  'agent.reconciled': 'agent',
  'ha.state_changed': 'agent',
};

/** The consumer groups and the publishers each one reads (and nothing else: its Redis user can read no more). */
export const CONSUMER_SOURCES = {
  agent: ['api', 'health'],
  forwarder: ['api', 'health'],
  health: ['api', 'forwarder'],
} as const satisfies Record<string, readonly EventPublisher[]>;
export type ConsumerGroup = keyof typeof CONSUMER_SOURCES;

export function streamKey(base: string, publisher: EventPublisher): string {
  return `${base}:${publisher}`;
}

/** Orders stream ids (`<ms>-<seq>`) across streams; ids of one Redis server share its clock. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}
