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

type Key = keyof DemoSecrets;
const INSTALL_KEYS: Key[] = ['PGW_SECRET_KEY', 'PGW_JWT_SECRET', 'PGW_CSRF_SECRET', 'PGW_ADMIN_PASSWORD'];
/** Postgres roles are cluster-wide, so their passwords are too: every demo on the machine shares them. */
const ROLE_KEYS: Key[] = ['PGW_DB_PASSWORD_API', 'PGW_DB_PASSWORD_HEALTH', 'PGW_DB_PASSWORD_AGENT', 'PGW_DB_PASSWORD_FORWARDER'];

function loadOrCreate(file: string, keys: Key[]): Partial<DemoSecrets> {
  const existing = new Map<string, string>();
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const match = /^([A-Z_]+)=(.*)$/.exec(line);
      if (match) existing.set(match[1]!, match[2]!);
    }
  }
  const fresh = (key: Key) => (key === 'PGW_ADMIN_PASSWORD' ? randomBytes(9).toString('base64url') : randomBytes(32).toString('hex'));
  const values = Object.fromEntries(keys.map((key) => [key, existing.get(key) ?? fresh(key)]));
  writeFileSync(file, `${keys.map((key) => `${key}=${values[key]}`).join('\n')}\n`, { mode: 0o600 });
  return values;
}

/** This demo's own secrets in installFile; the service roles' passwords in the machine-wide rolesFile. */
export function loadOrCreateSecrets(installFile: string, rolesFile: string): DemoSecrets {
  return { ...loadOrCreate(installFile, INSTALL_KEYS), ...loadOrCreate(rolesFile, ROLE_KEYS) } as DemoSecrets;
}
