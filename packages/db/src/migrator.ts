import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Kysely, type Migration, type MigrationProvider, type MigrationResultSet, Migrator, sql } from 'kysely';

/**
 * Migrations are plain SQL files (`migrations/NNNN_name.sql`), forward only, each run in a
 * transaction by kysely's Migrator, which also takes the lock so two runs cannot interleave.
 */
class SqlFileMigrationProvider implements MigrationProvider {
  constructor(private readonly folder: string) {}

  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(this.folder)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const text = await readFile(join(this.folder, file), 'utf8');
      migrations[file.replace(/\.sql$/, '')] = { up: async (db) => void (await sql.raw(text).execute(db)) };
    }
    return migrations;
  }
}

function migratorFor(db: Kysely<any>, folder: string): Migrator {
  return new Migrator({ db, provider: new SqlFileMigrationProvider(folder) });
}

export interface MigrationStatus {
  name: string;
  executedAt: Date | null;
}

export async function migrateToLatest(db: Kysely<any>, folder: string): Promise<MigrationResultSet> {
  return migratorFor(db, folder).migrateToLatest();
}

export async function migrationStatus(db: Kysely<any>, folder: string): Promise<MigrationStatus[]> {
  const migrations = await migratorFor(db, folder).getMigrations();
  return migrations.map((m) => ({ name: m.name, executedAt: m.executedAt ?? null }));
}
