import { MAX_MAPPINGS, QUOTA_PERIODS } from '@pgw/domain';
import { z } from 'zod';
import { parseRecord } from './parse-record.js';

/**
 * Per-client traffic accounting (issue 16, docs/contracts.md "Client usage"): each agent publishes
 * what its kernel counted for every mapped client, the api turns consecutive samples into stored
 * usage (minute, hour, day) and shows it.
 *
 * One Redis hash for all nodes, `pgw:usage`: field = node name, value = that node's latest sample
 * (JSON of `clientUsageSampleSchema`), written whole with one HSET every CLIENT_USAGE_INTERVAL_MS.
 * One value per node, never a key per client or per sample: at 4096 clients a sample is ~0.6 MB, so
 * Redis holds ~0.6 MB per node and takes one ~60 kB/s write per node, whatever the history length.
 * The history is the api's (Postgres); a sample Redis loses costs resolution, never bytes, because
 * the counters are cumulative (below).
 *
 * Counters are cumulative since `countersSince` (when this node's counters started from zero). A
 * reader keeps the last sample per node and stores the difference. When `countersSince` changed, or
 * a client's counter is lower than in the last sample (the client was removed and added again), the
 * new value is the whole delta. A client absent from the previous sample starts from 0.
 *
 * A sample whose `sampledAt` is older than CLIENT_USAGE_STALE_MS is a stopped node (a hash field has
 * no TTL in Redis 7.0): readers show it as unknown and take no delta from it until it is fresh again.
 */
export const CLIENT_USAGE_KEY = 'pgw:usage';
export const CLIENT_USAGE_INTERVAL_MS = 10_000;
export const CLIENT_USAGE_STALE_MS = 60_000;
/** The most clients one sample may hold (the mappings a gateway holds, @pgw/domain MAX_MAPPINGS); a larger sample does not parse. */
export const CLIENT_USAGE_MAX_CLIENTS = MAX_MAPPINGS;

const isoTime = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
/** Bytes and counts as JSON numbers: exact up to 2^53 (9 PB), beyond any counter a node reaches. */
const counter = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const ipv4 = z.ipv4();
/** A node's name (PGW_NODE_NAME, default the host name): a DNS label-like word, the hash field. */
export const nodeNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be a host name (letters, digits, . _ -, at most 63)');

/**
 * PGW_NODE_NAME, this machine's host name when unset. The host name goes through the schema too
 * (a zod default skips it): one that is no node name made every record the node wrote unreadable
 * to the others, with no word at start.
 */
export const nodeNameSetting = (hostName: string) => nodeNameSchema.prefault(hostName);

/** A client's quota in its current period; the kernel drops its packets once usedBytes reaches limitBytes. */
export const clientQuotaUsageSchema = z.object({
  limitBytes: counter,
  /** Bytes both ways counted against the quota since the period started or the last reset (the kernel's quota object). */
  usedBytes: counter,
  /** The mapping's quota_epoch in force (an operator's reset raises it). */
  epoch: z.number().int().nonnegative(),
  period: z.enum(QUOTA_PERIODS),
  /** Start of the current period in the reset time zone (setting quota_reset_timezone), as an instant. */
  periodStart: isoTime,
  /** When the count restarts by itself and an over-quota client is unblocked. */
  resetsAt: isoTime,
});

/** One client's counters. Up: client -> gateway (LAN ingress); down: gateway -> client (LAN egress). IP bytes (headers included). */
export const clientUsageSchema = z.object({
  mappingId: z.number().int().positive(),
  bytesUp: counter,
  bytesDown: counter,
  /** New connections (flows in conntrack state new) the client opened. */
  connections: counter,
  /** null: the mapping has no quota. */
  quota: clientQuotaUsageSchema.nullable(),
  /** Blocked with reason quota_exceeded now (false when it has no quota). */
  overQuota: z.boolean(),
});

export const clientUsageSampleSchema = z.object({
  node: nodeNameSchema,
  sampledAt: isoTime,
  /** When this node's counters started from zero; a change means "counters restarted" (see above). */
  countersSince: isoTime,
  /** How long reading the kernel's counters took (one nft listing), for the node's own health. */
  sampleMs: z.number().nonnegative(),
  /** Client IPv4 -> its counters; every client the node has a mapping for, blocked ones included. */
  clients: z
    .record(ipv4, clientUsageSchema)
    .refine((clients) => Object.keys(clients).length <= CLIENT_USAGE_MAX_CLIENTS, `at most ${CLIENT_USAGE_MAX_CLIENTS} clients per sample`),
});
export type ClientUsageSampleRecord = z.input<typeof clientUsageSampleSchema>;
export type ClientUsageSample = z.output<typeof clientUsageSampleSchema>;
export type ClientUsage = z.output<typeof clientUsageSchema>;

/** A missing, malformed or foreign value reads as null (unknown), never as zero usage. */
export function parseClientUsageSample(raw: string | null | undefined): ClientUsageSample | null {
  return parseRecord(clientUsageSampleSchema, raw);
}

/** HGETALL of CLIENT_USAGE_KEY -> each node's sample that parses and whose field names its own node. */
export function parseClientUsageHash(hash: Readonly<Record<string, string>>): ClientUsageSample[] {
  return Object.entries(hash).flatMap(([node, raw]) => {
    const sample = parseClientUsageSample(raw);
    return sample && sample.node === node ? [sample] : [];
  });
}

/**
 * Whether a sample is too old to be a running node's, or dated further ahead of `now` (a node whose
 * clock is wrong): shown as unknown, no delta taken from it. Taken, a sample from the future moved
 * the node's history cursor ahead, and every true sample after its clock was put right was skipped
 * until real time caught up (its bytes in a bucket no chart shows).
 */
export function isStaleUsageSample(sample: Pick<ClientUsageSample, 'sampledAt'>, now: Date): boolean {
  return Math.abs(now.getTime() - sample.sampledAt.getTime()) > CLIENT_USAGE_STALE_MS;
}
