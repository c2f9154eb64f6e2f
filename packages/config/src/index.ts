export * from './load-config.js';
export * as fields from './fields.js';
