export * from './run-service.js';
export * from './atomic-file.js';
export * from './boot-logger.js';
