export * from './secret-box.js';
export { openSealed, PasswordSealer, sealingPublicKey } from './sealed-box.js';
export * from './scram-verifier.js';
