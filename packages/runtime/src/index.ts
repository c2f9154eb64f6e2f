export * from './run-service.js';
export * from './atomic-file.js';
export * from './boot-logger.js';
export * from './coalesced-runs.js';
export * from './per-key-debouncer.js';
export * from './gateway-addresses.js';
export * from './deadline.js';
export * from './socket-activation.js';
