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
