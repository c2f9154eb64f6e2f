import { z } from 'zod';

/** Status keys the agent and forwarder write to Redis (contracts.md); parsed leniently, unknown fields ignored. */
export const AGENT_STATUS_KEY = 'pgw:agent:status';
export const FORWARDER_STATUS_KEY = 'pgw:forwarder:status';

const timestamp = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const date = new Date(v);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'not a time' });
    return z.NEVER;
  }
  return date;
});

const agentStatusSchema = z.object({
  ok: z.boolean(),
  at: timestamp,
  durationMs: z.number().default(0),
  appliedMappings: z.number().int().default(0),
  blocked: z.record(z.string(), z.string()).default({}),
  // A count or the list of rejected rows, depending on how much the agent reports.
  rejected: z.union([z.number(), z.array(z.object({ mappingId: z.number(), reason: z.string() }))]).default(0),
  // Settings and mapping ports the agent refused to apply on this gateway, each with its reason.
  refusals: z.array(z.object({ subject: z.string(), reason: z.string() })).default([]),
  error: z.string().nullable().default(null),
});
export type AgentStatus = z.infer<typeof agentStatusSchema>;

const forwarderStatusSchema = z.object({
  at: timestamp,
  activeConnections: z.number().int().default(0),
  perMapping: z.record(z.string(), z.number()).default({}),
  listeners: z.number().int().default(0),
  // Connections the destination policy refused since the forwarder started, by reason (destination_loopback, proxy_lan, ...).
  refused: z.record(z.string(), z.number()).default({}),
});
export type ForwarderStatus = z.infer<typeof forwarderStatusSchema>;

function parseJson<T>(schema: z.ZodType<T>, raw: string | null | undefined): T | null {
  if (!raw) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export const parseAgentStatus = (raw: string | null | undefined) => parseJson(agentStatusSchema, raw);
export const parseForwarderStatus = (raw: string | null | undefined) => parseJson(forwarderStatusSchema, raw);
