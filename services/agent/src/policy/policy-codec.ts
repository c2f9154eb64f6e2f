import { type Settings, settingsSchema, CLIENT_BLOCK_REASONS, MAX_FLOWS_PER_CLIENT, MAX_UDP_NEW_PER_SECOND, MAX_TCP_NEW_PER_SECOND, clientShapingSchema, DNS_MODES, type GatewayPolicy, INTERCEPT_MODES, interfaceNameSchema, ipv4CidrSchema, ipv4Schema, macAddressSchema, portSchema, QUOTA_PERIODS, timeZoneSchema } from '@pgw/domain';
import { z } from 'zod';
import type { QuotaSettings } from '../quota/quota-period.js';

const id = z.number().int().positive();

/** The state file is read by a root process and rendered into nft: it is validated like any input. */
const policySchema = z.object({
  lan: z.object({ interface: interfaceNameSchema, cidr: ipv4CidrSchema, carriers: z.array(interfaceNameSchema).max(16).optional() }),
  wan: z.object({ interface: interfaceNameSchema }),
  dnsMode: z.enum(DNS_MODES),
  interceptMode: z.enum(INTERCEPT_MODES).optional(),
  clients: z.array(
    // mac is absent in state files written before MAC pins existed: not pinned.
    z.object({ mappingId: id, proxyId: id, ip: ipv4Schema, port: portSchema, mac: macAddressSchema.nullable().optional(), blocked: z.enum(CLIENT_BLOCK_REASONS).nullable(), shaping: clientShapingSchema.optional(), onBackup: z.literal(true).optional() }),
  ),
  vrrpPeer: z.object({ interface: interfaceNameSchema, ip: ipv4Schema }).optional(),
  flowsPerClient: z.number().int().min(1).max(MAX_FLOWS_PER_CLIENT).optional(),
  udpNewPerSecond: z.number().int().min(1).max(MAX_UDP_NEW_PER_SECOND).optional(),
  tcpNewPerSecond: z.number().int().min(1).max(MAX_TCP_NEW_PER_SECOND).optional(),
  strictOutput: z
    .object({
      allowedUids: z.array(z.number().int().min(0).max(0xfffffffe)),
      upstreams: z.array(z.object({ ip: ipv4Schema, port: portSchema })),
    })
    .nullable(),
});

/**
 * What the state file holds: the policy last applied and the quota period it was applied under
 * (null in files written before the period was kept: the quota tables then wait for the database's
 * settings, as a write under a guessed period would delete the objects of the real one).
 */
export interface StateFile {
  readonly policy: GatewayPolicy;
  readonly quota: QuotaSettings | null;
  /**
   * The quota period (its window key, d20261207 or m202612) the file was written in: its
   * `quotaOver` are held at boot only within that period (quota-block.ts). Absent in files from
   * before it was kept, and without quota settings.
   */
  readonly quotaPeriodKey?: string;
  /**
   * The quota stems (q<mapping>_<epoch>) over their quota when the file was written, whatever
   * else blocks their clients (a client over quota whose proxy is down is saved proxy_down).
   */
  readonly quotaOver?: readonly string[];
  /**
   * The settings `policy` was built under. After a restart they are the ones in force until the
   * database's are accepted: settings refused then (by the host, or a row the schema refuses)
   * leave the proxies and mappings applying under these, as before the restart, instead of
   * freezing the file's ruleset. Absent in files written before they were kept.
   */
  readonly settings?: Settings;
  /** Read only: what of the file was left out and why (its settings or quota period, refused by the schema now); its policy stands. */
  readonly leftOut?: string;
}

const quotaSchema = z.object({ period: z.enum(QUOTA_PERIODS), timeZone: timeZoneSchema });

export function encodeStateFile(state: StateFile): string {
  return JSON.stringify({ version: 1, policy: state.policy, ...(state.quota ? { quota: state.quota } : {}), ...(state.quotaPeriodKey ? { quotaPeriodKey: state.quotaPeriodKey } : {}), ...(state.quotaOver?.length ? { quotaOver: state.quotaOver } : {}), ...(state.settings ? { settings: state.settings } : {}) }) + '\n';
}

/** Throws an Error naming the first invalid field. */
export function decodeStateFile(text: string): StateFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('state file is not JSON');
  }
  const envelope = z.object({ version: z.literal(1), policy: policySchema, quota: z.unknown().optional(), quotaPeriodKey: z.string().regex(/^(d\d{8}|m\d{6})$/).optional(), quotaOver: z.array(z.string().regex(/^q\d{1,10}_\d{1,10}$/)).max(65_536).optional(), settings: z.unknown().optional() }).safeParse(raw);
  if (!envelope.success) {
    const issue = envelope.error.issues[0]!;
    throw new Error(`state file ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  // Apart from the policy: settings or a quota period a later schema refuses (a time zone gone
  // from ICU) cost the boot only themselves, not its policy. Without the quota period the quota
  // tables wait for the database's settings; its stems are held only within a known period.
  const leftOut: string[] = [];
  const part = <T>(name: string, schema: z.ZodType<T>, value: unknown): T | undefined => {
    if (value === undefined) return undefined;
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    leftOut.push(`state file ${[name, ...issue.path].join('.')}: ${issue.message}`);
    return undefined;
  };
  const quota = part('quota', quotaSchema, envelope.data.quota);
  const settings = part('settings', settingsSchema, envelope.data.settings);
  return {
    policy: envelope.data.policy,
    quota: quota ?? null,
    ...(quota && envelope.data.quotaPeriodKey ? { quotaPeriodKey: envelope.data.quotaPeriodKey } : {}),
    ...(envelope.data.quotaOver ? { quotaOver: envelope.data.quotaOver } : {}),
    ...(settings ? { settings } : {}),
    ...(leftOut.length > 0 ? { leftOut: leftOut.join('; ') } : {}),
  };
}
