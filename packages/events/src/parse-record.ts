import type { z } from 'zod';

/**
 * A record read from Redis (JSON written by another process): a missing, malformed or foreign
 * value reads as null (unknown), never as a default, so every reader shows "not known" for it.
 */
export function parseRecord<T>(schema: z.ZodType<T>, raw: string | null | undefined): T | null {
  if (!raw) return null;
  try {
    const parsed = schema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
