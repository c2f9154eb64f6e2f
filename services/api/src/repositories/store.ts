import type { Db } from '@pgw/db';
import type { Repositories, Store } from '../services/ports.js';
import { auditRepository } from './audit.js';
import { mappingRepository } from './mappings.js';
import { proxyRepository } from './proxies.js';
import { settingsRepository } from './settings.js';

const repositories = (db: Db, inTransaction: boolean): Repositories => ({
  mappings: mappingRepository(db),
  proxies: proxyRepository(db),
  settings: settingsRepository(db),
  audit: auditRepository(db, inTransaction),
});

/** The use cases' Store on Postgres: a transaction hands them the same repositories bound to it. */
export function createStore(db: Db): Store {
  return { ...repositories(db, false), transaction: (work) => db.transaction().execute((trx) => work(repositories(trx, true))) };
}
