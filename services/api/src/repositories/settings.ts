import type { Settings } from '@pgw/domain';
import { type Db, loadSettings } from '@pgw/db';
import type { SettingsRepository } from '../services/ports.js';

export { loadSettings };

export async function saveSettings(db: Db, settings: Settings): Promise<void> {
  await db.updateTable('settings').set({ ...settings, updatedAt: new Date() }).where('id', '=', 1).execute();
}

export const settingsRepository = (db: Db): SettingsRepository => ({
  load: async (options) => {
    // The row locked until the transaction ends (a change that checks the version first).
    if (options?.lock) await db.selectFrom('settings').select('id').where('id', '=', 1).forUpdate().execute();
    return loadSettings(db);
  },
  save: (settings) => saveSettings(db, settings),
});
