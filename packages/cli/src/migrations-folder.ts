import { fileURLToPath } from 'node:url';

/**
 * The repository's `migrations/` folder, found from this file whether run from src or dist, unless
 * PGW_MIGRATIONS_DIR names another; empty is unset (.env.template leaves it so), as for every variable.
 */
export const MIGRATIONS_FOLDER = process.env.PGW_MIGRATIONS_DIR || fileURLToPath(new URL('../../../migrations/', import.meta.url));
