import { isIP, isIPv4 } from 'node:net';
import { fields, loadConfig } from '@pgw/config';
import { PasswordSealer } from '@pgw/crypto';
import { networkListSchema } from '@pgw/domain';
import { z } from 'zod';
import { weakSecretReason } from './logic/secret-strength.js';

const signingSecret = z.string().superRefine((s, ctx) => {
  const reason = weakSecretReason(s);
  if (reason) ctx.addIssue({ code: 'custom', message: reason });
});

/**
 * The public key proxy passwords are sealed to (base64 of 32 bytes, docker/secret-public-key.sh
 * prints it from PGW_SECRET_KEY); a key that cannot seal (a low-order point, not canonical) is refused here.
 */
const sealingPublicKey = z.string().transform((s, ctx): Buffer => {
  const bytes = /^[A-Za-z0-9+/]{43}=$/.test(s) ? Buffer.from(s, 'base64') : null;
  if (bytes === null || bytes.length !== 32) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 bytes in base64 (44 characters), as `docker/secret-public-key.sh` prints it from PGW_SECRET_KEY' });
    return z.NEVER;
  }
  try {
    new PasswordSealer(bytes);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
  return bytes;
});

/**
 * The api seals and never opens: the key that opens every stored proxy password is refused in its
 * environment, not ignored (an env file from before 1.2 still holds it; it must leave the file).
 */
const notTheSecretKey = z
  .undefined({
    error: 'must not be given to the api (it opens every stored proxy password): remove it from api.env and give PGW_SECRET_PUBLIC_KEY instead (docker/secret-public-key.sh prints it; docs/DEPLOYMENT.md)',
  })
  .optional();

/** One entry of express's "trust proxy" list as proxy-addr reads it: a preset name, an address, or address/prefix. */
function isTrustedProxyItem(item: string): boolean {
  if (item === 'loopback' || item === 'linklocal' || item === 'uniquelocal') return true;
  const [address = '', prefix, ...rest] = item.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (family === 4 && isIPv4(prefix)) return true; // a netmask, 255.255.255.0
  return /^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * "false" | the reverse proxy's addresses/subnets, as express "trust proxy" takes them. "true" and
 * hop counts are refused: both trust the socket's peer whoever it is, so a client that reaches the
 * port past the proxy names its own address in X-Forwarded-For (login throttle, audit log).
 */
const trustProxy = z
  .string()
  .default('false')
  .superRefine((s, ctx) => {
    const refuse = (message: string) => ctx.addIssue({ code: 'custom', message });
    if (s === 'false') return;
    if (s === 'true') return refuse('true would trust every hop, so any client could name its own address (login throttle, audit log): give the proxy\'s address or subnet');
    if (/^\d+$/.test(s)) return refuse(`a hop count trusts whoever connects, so a client reaching the port past the proxy names its own address: give the proxy's address or subnet (loopback for one on this host) instead of ${s}`);
    const bad = s.split(',').map((item) => item.trim()).find((item) => !isTrustedProxyItem(item));
    // Checked here, not by express at the first request: it threw only after the api had connected and made the first admin.
    if (bad !== undefined) refuse(`must be false or comma-separated addresses/subnets (or loopback, linklocal, uniquelocal); "${bad}" is none of them`);
  })
  .transform((s): false | string => (s === 'false' ? false : s));

const schema = z
  .object({
    PGW_LOG_LEVEL: fields.logLevel,
    PGW_DATABASE_URL: fields.postgresUrl,
    PGW_REDIS_URL: fields.redisUrl,
    PGW_SECRET_KEY: notTheSecretKey,
    PGW_SECRET_PUBLIC_KEY: sealingPublicKey,
    PGW_JWT_SECRET: signingSecret,
    PGW_CSRF_SECRET: signingSecret,
    PGW_TOKEN_TTL_S: fields.positiveInt(28_800, 7 * 86_400),
    PGW_API_HOST: fields.listenHost.default('127.0.0.1'),
    PGW_API_PORT: fields.tcpPort.default(8080),
    // /metrics is not on the API port (which may face the LAN): a listener of its own, loopback by default, like the other services.
    PGW_API_METRICS_HOST: fields.listenHost.default('127.0.0.1'),
    PGW_API_METRICS_PORT: fields.tcpPort.default(9104),
    PGW_TLS_CERT_FILE: z.string().optional(),
    PGW_TLS_KEY_FILE: z.string().optional(),
    PGW_TRUST_PROXY: trustProxy,
    /** The api's port reaches the network only through a port published on the host's loopback (the shipped docker-compose.yml): plain HTTP there is no warning. */
    PGW_API_PUBLISHED_ON_LOOPBACK: fields.booleanFlag(false),
    // The DNS names clients reach the api by (a reverse proxy's public name); its metrics port answers to them too.
    PGW_API_HOSTNAMES: fields.hostNames,
    PGW_ADMIN_USERNAME: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'must be 1-64 of A-Z a-z 0-9 _ . @ -').optional(),
    PGW_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').max(256).optional(),
    PGW_UI_DIR: z.string().optional(),
    PGW_PROXY_ALLOW_CIDRS: networkListSchema.default([]),
  })
  .refine((c) => !c.PGW_TLS_CERT_FILE === !c.PGW_TLS_KEY_FILE, { message: 'set both PGW_TLS_CERT_FILE and PGW_TLS_KEY_FILE, or neither', path: ['PGW_TLS_KEY_FILE'] })
  .refine((c) => !c.PGW_ADMIN_USERNAME === !c.PGW_ADMIN_PASSWORD, { message: 'set both PGW_ADMIN_USERNAME and PGW_ADMIN_PASSWORD, or neither', path: ['PGW_ADMIN_PASSWORD'] })
  .refine((c) => c.PGW_JWT_SECRET !== c.PGW_CSRF_SECRET, { message: 'must differ from PGW_JWT_SECRET', path: ['PGW_CSRF_SECRET'] })
  .refine((c) => c.PGW_API_METRICS_PORT !== c.PGW_API_PORT, { message: 'must differ from PGW_API_PORT', path: ['PGW_API_METRICS_PORT'] });

export type ApiConfig = z.infer<typeof schema>;

export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  return loadConfig(schema as unknown as z.ZodObject, env) as ApiConfig;
}
