import { z } from 'zod';

/**
 * Tags group mappings (issue 17: select by tag, act on the group). One spelling, so "Floor 2" and
 * "floor-2" are never two groups: lower case, digits, '.', '_', '-', 1-32 characters, starting with
 * a letter or digit. Migration 0012's CHECK holds the same rule.
 */
export const MAPPING_TAG = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const MAX_MAPPING_TAGS = 16;

export const mappingTagSchema = z.string().regex(MAPPING_TAG, 'must be 1-32 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit');

/** A mapping's tags after adding some: in the order first given, each once; null when that makes more than MAX_MAPPING_TAGS. */
export function addTags(current: readonly string[], added: readonly string[]): string[] | null {
  const next = [...new Set([...current, ...added])];
  return next.length > MAX_MAPPING_TAGS ? null : next;
}

export function removeTags(current: readonly string[], removed: readonly string[]): string[] {
  const gone = new Set(removed);
  return current.filter((t) => !gone.has(t));
}
