import type { ImportPreview } from '../api/types.js';

type Values = ImportPreview['added'][number]['after'];

const FIELDS = ['proxyName', 'listenPort', 'enabled', 'description', 'macAddress', 'tags'] as const;

const shown = (value: Values[(typeof FIELDS)[number]]): string => {
  if (Array.isArray(value)) return value.length > 0 ? value.join(' ') : '—';
  return String(value ?? '—');
};

/** What an import row changes of the stored mapping, one "field stored → file" per field that differs (tags by their list, in order). */
export function importRowChanges(before: Values, after: Values): string[] {
  return FIELDS.filter((f) => shown(before[f]) !== shown(after[f])).map((f) => `${f} ${shown(before[f])} → ${shown(after[f])}`);
}
