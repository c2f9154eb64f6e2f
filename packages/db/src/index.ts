export * from './schema.js';
export * from './create-db.js';
export * from './service-role.js';
export * from './migrator.js';
export * from './settings-repository.js';
export * from './desired-state.js';
