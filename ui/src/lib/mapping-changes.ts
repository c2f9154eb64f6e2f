import type { Mapping, MappingCreate, MappingUpdate } from '../api/types.js';

/**
 * What an edit of `opened` (the mapping as the dialog showed it) changes: only those fields are
 * sent (PATCH). Sending the whole form put back what another admin changed since the dialog opened:
 * a client disabled meanwhile was enabled again by an edit of its description.
 */
export function mappingChanges(opened: Mapping, edited: MappingCreate): MappingUpdate {
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(edited)) {
    if (JSON.stringify(value ?? null) !== JSON.stringify((opened as unknown as Record<string, unknown>)[key] ?? null)) changes[key] = value;
  }
  return changes as MappingUpdate;
}
