import { PROXY_STATUSES } from '@pgw/domain';
import { z } from 'zod';
import { haStateChanged } from './ha.js';

/**
 * Every notice that crosses Redis. Notices say "something changed"; consumers reload the truth
 * from Postgres, so a lost notice costs latency, never correctness.
 */
const id = z.number().int().positive();
const status = z.enum(PROXY_STATUSES);

export const mappingChanged = z.object({
  type: z.literal('mapping.changed'),
  mappingId: id.nullable(),
  action: z.enum(['created', 'updated', 'deleted', 'imported']),
});

export const proxyChanged = z.object({
  type: z.literal('proxy.changed'),
  proxyId: id,
  action: z.enum(['created', 'updated', 'deleted']),
});

export const configChanged = z.object({ type: z.literal('config.changed') });

/** Published by the health service on every status transition. */
export const proxyStatusChanged = z.object({
  type: z.literal('proxy.status'),
  proxyId: id,
  status,
  previous: status,
  latencyMs: z.number().nullable(),
  exitIp: z.string().nullable(),
  error: z.string().nullable(),
});

/**
 * Published by the health service when a successful probe sees another exit IP than the last one
 * recorded: a rotating upstream, or a proxy re-pointed elsewhere. The name is the proxy's at that
 * moment, so the console can say which proxy without a reload.
 */
export const proxyExitIpChanged = z.object({
  type: z.literal('proxy.exit_ip_changed'),
  proxyId: id,
  name: z.string(),
  previous: z.string(),
  exitIp: z.string(),
});

/**
 * Published by the health service when a successful probe raises an exit-IP alarm (issue 17), once
 * per alarm while it holds: `gateway_address` (the exit is one of the gateway's own addresses: the
 * proxy does not proxy), `proxy_address` (the exit is the address the probe dialed the proxy at, for
 * a proxy set to exit elsewhere: `exitDiffers`), `shared` (other proxies leave from the same address;
 * `others` names them).
 */
export const proxyExitIpAlarm = z.object({
  type: z.literal('proxy.exit_ip_alarm'),
  proxyId: id,
  name: z.string(),
  kind: z.enum(['gateway_address', 'proxy_address', 'shared']),
  exitIp: z.string(),
  others: z.array(z.object({ proxyId: id, name: z.string() })),
});

/** Published by the forwarder when a proxy refuses or times out repeatedly; health probes it at once. */
export const upstreamFailure = z.object({
  type: z.literal('forwarder.upstream_failure'),
  proxyId: id,
  reason: z.string(),
  failures: z.number().int().positive(),
});

/** Published by the agent after each reconcile that changed something, and when its runs start or stop failing or fail otherwise. */
export const agentReconciled = z.object({
  type: z.literal('agent.reconciled'),
  ok: z.boolean(),
  durationMs: z.number(),
  appliedMappings: z.number().int().nonnegative(),
  blockedClients: z.number().int().nonnegative(),
  error: z.string().nullable(),
});

export const pgwEventSchema = z.discriminatedUnion('type', [
  mappingChanged,
  proxyChanged,
  configChanged,
  proxyStatusChanged,
  proxyExitIpChanged,
  proxyExitIpAlarm,
  upstreamFailure,
  agentReconciled,
  haStateChanged,
]);

export type PgwEvent = z.infer<typeof pgwEventSchema>;
export type PgwEventType = PgwEvent['type'];
export type EventOf<T extends PgwEventType> = Extract<PgwEvent, { type: T }>;

/** An event as read back: its stream id (usable as SSE Last-Event-ID) and when it was published. */
export interface ReceivedEvent {
  readonly id: string;
  readonly at: Date;
  readonly event: PgwEvent;
}
