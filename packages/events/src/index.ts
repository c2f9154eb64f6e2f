export * from './contracts.js';
export * from './event-bus.js';
export * from './redis-connection.js';
export * from './probe-queue.js';
export * from './routing.js';
export * from './redis-acl.js';
