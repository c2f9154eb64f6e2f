import { fields, loadConfig } from '@pgw/config';
import { sealingPublicKey } from '@pgw/crypto';
import { z } from 'zod';

/**
 * PGW_SECRET_PUBLIC_KEY for the api, from the PGW_SECRET_KEY of the environment (health.env's):
 * the key is read from the environment, never from the command line, where every local user sees it.
 */
export function secretPublicKey(env: NodeJS.ProcessEnv): string {
  const { PGW_SECRET_KEY } = loadConfig(z.object({ PGW_SECRET_KEY: fields.secretKey }), env);
  return sealingPublicKey(PGW_SECRET_KEY).toString('base64');
}
