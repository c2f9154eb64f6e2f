import { type Settings, settingsSchema } from '@pgw/domain';
import type { Db } from './create-db.js';
import type { SettingsRow } from './schema.js';

/** Validates the row again on read: a settings row that fails the domain schema is an error, never half-applied. */
export function settingsFromRow(row: SettingsRow): Settings {
  const { id: _id, updatedAt: _updatedAt, ...values } = row;
  return settingsSchema.parse(values);
}

export async function loadSettings(db: Db): Promise<Settings> {
  return settingsFromRow(await db.selectFrom('settings').selectAll().where('id', '=', 1).executeTakeFirstOrThrow());
}

/**
 * The settings row, or what the domain schema finds wrong with it (one line naming each field): for
 * a reader that keeps the settings it read before rather than fail whole.
 */
export async function readSettings(db: Db): Promise<{ readonly settings: Settings } | { readonly problem: string }> {
  const { id: _id, updatedAt: _updatedAt, ...values } = await db.selectFrom('settings').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
  const parsed = settingsSchema.safeParse(values);
  if (parsed.success) return { settings: parsed.data };
  return { problem: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'settings'}: ${issue.message}`).join('; ') };
}
