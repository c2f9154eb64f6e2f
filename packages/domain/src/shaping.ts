import { z } from 'zod';

/**
 * Per-client bandwidth limits and byte quota (issue 16). The bounds are the migration's
 * (0009_client_shaping.sql): under 64 kbit/s an HTB class cannot hold its rate with 1500-byte
 * packets, over 10 Gbit/s no gateway LAN carries it; a quota under 1 MB would block a client on its
 * first page, one over 1 PB is not a quota. null everywhere: unlimited.
 */
export const RATE_KBIT_MIN = 64;
export const RATE_KBIT_MAX = 10_000_000;
export const QUOTA_BYTES_MIN = 1_000_000;
export const QUOTA_BYTES_MAX = 1_000_000_000_000_000;

export const rateKbitSchema = z
  .number()
  .int('must be a whole number of kbit/s')
  .min(RATE_KBIT_MIN, `must be at least ${RATE_KBIT_MIN} kbit/s (or empty: unlimited)`)
  .max(RATE_KBIT_MAX, `must be at most ${RATE_KBIT_MAX} kbit/s (10 Gbit/s)`);

/** Postgres bigint arrives as a string: accepted as digits only, never a float. */
export const quotaBytesSchema = z
  .union([z.number(), z.string().regex(/^[0-9]{1,16}$/, 'must be a whole number of bytes').transform(Number)])
  .pipe(
    z
      .number()
      .int('must be a whole number of bytes')
      .min(QUOTA_BYTES_MIN, `must be at least ${QUOTA_BYTES_MIN} bytes (1 MB) (or empty: unlimited)`)
      .max(QUOTA_BYTES_MAX, `must be at most ${QUOTA_BYTES_MAX} bytes (1 PB)`),
  );

export const quotaEpochSchema = z.number().int().min(0).max(2_147_483_647);

/** A mapping's limits as the agent enforces them. */
export interface ClientShaping {
  /** Download (gateway -> client), kbit/s; null: unlimited. */
  readonly rateDownKbit: number | null;
  /** Upload (client -> gateway), kbit/s; null: unlimited. */
  readonly rateUpKbit: number | null;
  /** Bytes both ways before the client is blocked (quota_exceeded); null: no quota. */
  readonly quotaBytes: number | null;
  /** Raised by an operator's reset: a new epoch is a fresh count. */
  readonly quotaEpoch: number;
}

export const UNLIMITED: ClientShaping = { rateDownKbit: null, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 };

export const clientShapingSchema = z.object({
  rateDownKbit: rateKbitSchema.nullable(),
  rateUpKbit: rateKbitSchema.nullable(),
  quotaBytes: quotaBytesSchema.nullable(),
  quotaEpoch: quotaEpochSchema,
});
