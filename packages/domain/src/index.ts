export * from './net.js';
export * from './proxy.js';
export * from './mapping.js';
export * from './settings.js';
export * from './client-state.js';
export * from './policy.js';
