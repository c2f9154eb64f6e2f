import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/** Generated once per demo machine and kept (mode 0600), so a second `up` reuses the same database and logins. */
export interface DemoSecrets {
  PGW_SECRET_KEY: string;
  PGW_JWT_SECRET: string;
  PGW_CSRF_SECRET: string;
  PGW_DB_PASSWORD_API: string;
  PGW_DB_PASSWORD_HEALTH: string;
  PGW_DB_PASSWORD_AGENT: string;
  PGW_DB_PASSWORD_FORWARDER: string;
  PGW_ADMIN_PASSWORD: string;
}

const KEYS: (keyof DemoSecrets)[] = [
  'PGW_SECRET_KEY',
  'PGW_JWT_SECRET',
  'PGW_CSRF_SECRET',
  'PGW_DB_PASSWORD_API',
  'PGW_DB_PASSWORD_HEALTH',
  'PGW_DB_PASSWORD_AGENT',
  'PGW_DB_PASSWORD_FORWARDER',
  'PGW_ADMIN_PASSWORD',
];

export function loadOrCreateSecrets(file: string): DemoSecrets {
  const existing = new Map<string, string>();
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const match = /^([A-Z_]+)=(.*)$/.exec(line);
      if (match) existing.set(match[1]!, match[2]!);
    }
  }
  const secrets = Object.fromEntries(KEYS.map((key) => [key, existing.get(key) ?? randomBytes(key === 'PGW_ADMIN_PASSWORD' ? 9 : 32).toString(key === 'PGW_ADMIN_PASSWORD' ? 'base64url' : 'hex')])) as unknown as DemoSecrets;
  writeFileSync(file, `${KEYS.map((key) => `${key}=${secrets[key]}`).join('\n')}\n`, { mode: 0o600 });
  return secrets;
}
