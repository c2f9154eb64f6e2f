/** Keys whose values never reach the audit log or a response. */
const SECRET_KEYS = new Set(['password', 'passwordEnc', 'passwordHash', 'currentPassword', 'newPassword', 'token']);

/** A copy of an audited entity with secrets replaced by a marker saying only whether one was set. */
export function redactSecrets<T>(value: T): T {
  if (Array.isArray(value)) return value.map(redactSecrets) as T;
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = SECRET_KEYS.has(key) ? (inner === null || inner === undefined ? null : '[redacted]') : redactSecrets(inner);
  }
  return out as T;
}
