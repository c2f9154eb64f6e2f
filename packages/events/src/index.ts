export * from './events.js';
export * from './event-bus.js';
export * from './redis-connection.js';
export * from './probe-queue.js';
