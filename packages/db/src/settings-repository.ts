import { DEFAULT_SETTINGS, type Settings, settingsSchema } from '@pgw/domain';
import type { Db } from './create-db.js';
import type { SettingsRow } from './schema.js';

/** Validates the row again on read: a settings row that fails the domain schema is an error, never half-applied. */
export function settingsFromRow(row: SettingsRow): Settings {
  return settingsSchema.parse(settingsValues(row));
}

export async function loadSettings(db: Db): Promise<Settings> {
  return settingsFromRow(await selectSettingsRow(db));
}

/** A field of the settings row the domain schema refuses, and why (the field named first). */
export interface SettingsRowRefusal {
  readonly subject: string;
  readonly reason: string;
}

/**
 * The settings row, or each field the domain schema refuses in it: for a reader that keeps the
 * settings it read before rather than fail whole (only a writer past the api can store such a row).
 * `standIn`: the row with each refused field at its default, for a reader that has nothing read
 * before and must go on all the same (the health service: a dead proxy must still be found dead).
 */
export async function readSettings(db: Db): Promise<{ readonly settings: Settings } | { readonly refusals: readonly SettingsRowRefusal[]; readonly standIn: Settings }> {
  const values = settingsValues(await selectSettingsRow(db));
  const parsed = settingsSchema.safeParse(values);
  if (parsed.success) return { settings: parsed.data };
  const refusals = parsed.error.issues.map((issue) => {
    const subject = issue.path.join('.') || 'settings';
    return { subject, reason: `${subject}: ${issue.message}` };
  });
  const defaults: Record<string, unknown> = DEFAULT_SETTINGS;
  const patched: Record<string, unknown> = { ...values };
  for (const issue of parsed.error.issues) {
    const field = issue.path[0];
    if (typeof field === 'string' && field in defaults) patched[field] = defaults[field];
  }
  const standIn = settingsSchema.safeParse(patched);
  return { refusals, standIn: standIn.success ? standIn.data : DEFAULT_SETTINGS };
}

function selectSettingsRow(db: Db): Promise<SettingsRow> {
  return db.selectFrom('settings').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
}

/** The row without its key and timestamp: what the schema judges. */
function settingsValues(row: SettingsRow): Omit<SettingsRow, 'id' | 'updatedAt'> {
  const { id: _id, updatedAt: _updatedAt, ...values } = row;
  return values;
}
