import { z } from 'zod';
import { privateDestinationsSchema } from './destination-policy.js';
import { dnsUpstreamProblem, dnsUpstreamSchema } from './dns-upstream.js';
import { backupHoldDownSchema } from './fail-policy.js';
import { interfaceNameSchema, ipv4CidrSchema, portSchema } from './net.js';
import { quotaPeriodSchema, timeZoneSchema } from './quota-settings.js';
import { usageDayRetentionSchema, usageHourRetentionSchema, usageMinuteRetentionSchema, usageRetentionIssues } from './usage-retention.js';

/**
 * What a client's UDP DNS gets: "drop" (v1.1: UDP/53 from clients is dropped), or "proxy" (issue 15:
 * in TPROXY mode answered through the client's own proxy, by UDP ASSOCIATE where it carries UDP,
 * else as DNS over TCP through a tunnel, to the resolver it asked or dnsUpstream; in DNAT mode no
 * UDP is relayed, so it is dropped all the same).
 */
export const DNS_MODES = ['drop', 'proxy'] as const;
export type DnsMode = (typeof DNS_MODES)[number];

/**
 * How the kernel hands a client's TCP to the forwarder (issue 15, docs/ARCHITECTURE.md "TPROXY
 * mode"): `dnat` to 127.0.0.1:<port> (needs route_localnet on the LAN interface), or `tproxy`
 * (nft tproxy + policy routing; the packet keeps its destination, route_localnet stays 0).
 */
export const INTERCEPT_MODES = ['dnat', 'tproxy'] as const;
export type InterceptMode = (typeof INTERCEPT_MODES)[number];

/** Operator settings, one row in Postgres, changed through the API. */
export const settingsSchema = z
  .object({
    lanInterface: interfaceNameSchema,
    wanInterface: interfaceNameSchema,
    // Only the syntax: a stored row is read with this schema too, and one the api's LAN check
    // (lanNetworkProblem) would refuse must still load (the agent refuses it, naming it).
    lanCidr: ipv4CidrSchema,
    forwarderPortMin: portSchema,
    forwarderPortMax: portSchema,
    healthIntervalS: z.number().int().min(5).max(3600),
    probeTimeoutMs: z.number().int().min(500).max(60000),
    checkUrl: z.url({ protocol: /^https?$/ }),
    /** Byte quotas restart at each day's or month's start in quotaResetTimezone (issue 16, migration 0010). Absent in a change: the stored value is kept (column defaults monthly, UTC). */
    quotaPeriod: quotaPeriodSchema.optional(),
    quotaResetTimezone: timeZoneSchema.optional(),
    /** Per-client byte counters in the agent's metrics (one series per client and direction: cardinality). Absent in a change: kept (default off). */
    perClientMetrics: z.boolean().optional(),
    /** How long the accounting history keeps each resolution (issue 16, migration 0011). Absent in a change: kept (24 h, 30 d, 365 d). */
    usageMinuteRetentionHours: usageMinuteRetentionSchema.optional(),
    usageHourRetentionDays: usageHourRetentionSchema.optional(),
    usageDayRetentionDays: usageDayRetentionSchema.optional(),
    dnsMode: z.enum(DNS_MODES),
    /**
     * With dnsMode proxy: the resolver every client's DNS (UDP and TCP/53) is asked through its
     * proxy, instead of the one it addressed (dns-upstream.ts, migration 0019). null: the one it
     * addressed. Absent in a change: the stored value is kept (column default null).
     */
    dnsUpstream: dnsUpstreamSchema.nullable().optional(),
    /** Absent in a change: the stored mode is kept (the column has its own default, dnat). */
    interceptMode: z.enum(INTERCEPT_MODES).optional(),
    strictOutput: z.boolean(),
    failThreshold: z.number().int().min(1).max(10),
    recoverThreshold: z.number().int().min(1).max(10),
    historyRetentionDays: z.number().int().min(1).max(3650),
    /** Whether clients may reach RFC 1918, CGNAT and ULA destinations through their proxy (mappings may override). */
    privateDestinations: privateDestinationsSchema,
    /** Seconds a recovered proxy must be up before clients on a backup move back (issue 17). Absent in a change: the stored value is kept (column default 30). */
    backupHoldDownS: backupHoldDownSchema.optional(),
  })
  // Ports below 1024 belong to system services (sshd, DNS, DHCP): a client DNAT-ed there would
  // reach them. The other limits (the kernel's ip_local_port_range, pgw's own service ports,
  // ports other users listen on) depend on the gateway host and are checked by the agent.
  .refine((s) => s.forwarderPortMin >= 1024, {
    message: 'forwarderPortMin must be at least 1024 (lower ports belong to system services)',
    path: ['forwarderPortMin'],
  })
  .refine((s) => s.forwarderPortMin <= s.forwarderPortMax, {
    message: 'forwarderPortMin must not be above forwarderPortMax',
    path: ['forwarderPortMin'],
  })
  .refine((s) => s.lanInterface !== s.wanInterface, {
    message: 'lanInterface and wanInterface must differ',
    path: ['wanInterface'],
  })
  .superRefine((s, ctx) => {
    for (const issue of usageRetentionIssues(s)) ctx.addIssue({ code: 'custom', ...issue });
  })
  .superRefine((s, ctx) => {
    const problem = s.dnsUpstream == null ? null : dnsUpstreamProblem(s.dnsUpstream, s.lanCidr);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem, path: ['dnsUpstream'] });
  });

export type Settings = z.infer<typeof settingsSchema>;

export const DEFAULT_SETTINGS: Settings = settingsSchema.parse({
  lanInterface: 'ens19',
  wanInterface: 'eth0',
  lanCidr: '192.168.2.0/24',
  forwarderPortMin: 20000,
  forwarderPortMax: 29999,
  healthIntervalS: 30,
  probeTimeoutMs: 5000,
  checkUrl: 'http://203.0.113.10/ip',
  dnsMode: 'drop',
  strictOutput: false,
  failThreshold: 1,
  recoverThreshold: 2,
  historyRetentionDays: 30,
  privateDestinations: 'deny',
});
