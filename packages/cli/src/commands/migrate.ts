import { type Db, migrateToLatest, migrationStatus } from '@pgw/db';
import { MIGRATIONS_FOLDER } from '../migrations-folder.js';

export async function migrate(db: Db, out: (line: string) => void): Promise<void> {
  const { results, error } = await migrateToLatest(db, MIGRATIONS_FOLDER);
  for (const result of results ?? []) out(`${result.status === 'Success' ? 'applied' : result.status.toLowerCase()}: ${result.migrationName}`);
  if (error) throw new Error(`migration failed: ${error instanceof Error ? error.message : String(error)}`);
  if (!results?.length) out('database is up to date');
}

export async function printMigrationStatus(db: Db, out: (line: string) => void): Promise<number> {
  const status = await migrationStatus(db, MIGRATIONS_FOLDER);
  for (const m of status) out(`${m.executedAt ? `applied ${m.executedAt.toISOString()}` : 'pending'}  ${m.name}`);
  return status.filter((m) => !m.executedAt).length;
}
