/** Short, locale-independent renderings for tables. */
export function formatLatency(ms: number | null): string {
  return ms === null ? '—' : `${Math.round(ms)} ms`;
}

export function formatAge(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

export function formatTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return d.toLocaleTimeString([], { hour12: false });
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Date and time in the browser's zone, unambiguous in any locale: "2025-01-05 14:03:22". */
export function formatDateTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** An event time: the time alone today, with its date otherwise (a feed can span midnight). */
export function formatEventTime(iso: string | Date, now: number): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  const today = new Date(now);
  const sameDay = d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate();
  return sameDay ? formatDateTime(d).slice(11) : formatDateTime(d);
}

/** What an audit row changed, named as the console names it (proxy name, client IP, username), never by id. */
export function auditSubject(entry: { entityType: string; before: unknown; after: unknown }): string {
  const state = (entry.after ?? entry.before) as Record<string, unknown> | null;
  const name = state && typeof state === 'object' ? (state.name ?? state.clientIp ?? state.username) : undefined;
  return typeof name === 'string' ? `${entry.entityType} ${name}` : entry.entityType;
}
