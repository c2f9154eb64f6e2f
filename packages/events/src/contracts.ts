/**
 * The cross-process contracts alone (docs/contracts.md), without the Redis clients: the events and
 * the status records. The console's types come from here (`@pgw/events/contracts`).
 */
export * from './events.js';
export * from './status-records.js';
export * from './neighbour-record.js';
export * from './client-usage.js';
export * from './ha.js';
