export * from './load-config.js';
export * as fields from './fields.js';
export * from './allowed-host.js';
