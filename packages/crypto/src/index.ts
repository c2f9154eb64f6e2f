export * from './secret-box.js';
export * from './scram-verifier.js';
