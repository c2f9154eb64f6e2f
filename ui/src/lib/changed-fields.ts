import type { Mapping, MappingCreate, MappingUpdate, Proxy, ProxyCreate, ProxyUpdate } from '../api/types.js';

/**
 * The fields of `edited` (the form) that differ from `opened` (the record as the dialog showed it):
 * an edit sends only those (PATCH). Sending the whole form put back what another admin changed since
 * the dialog opened: a client disabled meanwhile was enabled again by an edit of its description.
 */
function changedFields(opened: object, edited: object): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(edited)) {
    if (JSON.stringify(value ?? null) !== JSON.stringify((opened as Record<string, unknown>)[key] ?? null)) changes[key] = value;
  }
  return changes;
}

export function mappingChanges(opened: Mapping, edited: MappingCreate): MappingUpdate {
  return changedFields(opened, edited) as MappingUpdate;
}

/**
 * A proxy's edit: the fields changed, and the password whenever the form sets or clears it (a
 * proxy's answer never shows one). The whole form carried the user name read when the dialog
 * opened: another admin's new user name and password became the old name with the new password.
 */
export function proxyChanges(opened: Proxy, edited: ProxyCreate): ProxyUpdate {
  const { password, ...fields } = edited;
  return { ...(changedFields(opened, fields) as ProxyUpdate), ...(password !== undefined ? { password } : {}) };
}
