import { randomBytes } from 'node:crypto';
import { sealingPublicKey } from '@pgw/crypto';
import { createLogger } from '@pgw/log';
import type { ApiConfig } from '../../services/api/src/config.js';
import { hashPassword } from '../../services/api/src/auth/passwords.js';
import { startApi, type RunningApi, type StartApiOptions } from '../../services/api/src/start-api.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ContractValidator } from './api-contract-validator.js';

export const ADMIN = { username: 'alice', password: 'alice-password-123' };
export const VIEWER = { username: 'victor', password: 'victor-password-123' };

export interface Response {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface Session {
  token: string;
  csrfToken: string;
  cookie: string;
}

export interface CallOptions {
  body?: unknown;
  csv?: string;
  /** A body sent as it is, with the content-type of `headers`. */
  raw?: string;
  /** Bearer token, or a cookie session (with its CSRF token unless csrf is false). */
  auth?: { bearer: string } | { session: Session; csrf?: boolean | string };
  headers?: Record<string, string>;
}

/** One api under test: its own database, Redis stream and BullMQ prefix, so test files can run in parallel. */
export class ApiHarness {
  readonly contract = new ContractValidator();
  readonly id = randomBytes(4).toString('hex');
  /** The notice stream this api publishes to and tails (the default one when the test owns its Redis). */
  stream = `pgw:test:${this.id}:events`;
  readonly queuePrefix = `pgwtest-${this.id}`;

  private constructor(
    readonly database: TestDatabase,
    public api: RunningApi,
    readonly config: ApiConfig,
    /** PGW_SECRET_KEY of the services that open proxy passwords; the api has its public key only. */
    readonly secretKey: Buffer,
  ) {}

  static async start(overrides: Partial<ApiConfig> = {}, options: Partial<StartApiOptions> = {}): Promise<ApiHarness> {
    const database = await createTestDatabase({ prefix: 'pgw_api' });
    try {
      for (const user of [{ ...ADMIN, role: 'admin' as const }, { ...VIEWER, role: 'viewer' as const }]) {
        await database.db.insertInto('users').values({ username: user.username, passwordHash: await hashPassword(user.password), role: user.role }).execute();
      }
      const secretKey = randomBytes(32);
      const config: ApiConfig = {
        PGW_LOG_LEVEL: 'error',
        PGW_DATABASE_URL: database.urlFor('pgw_api'),
        PGW_REDIS_URL: 'redis://127.0.0.1:6379',
        PGW_SECRET_PUBLIC_KEY: sealingPublicKey(secretKey),
        PGW_JWT_SECRET: randomBytes(32).toString('hex'),
        PGW_CSRF_SECRET: randomBytes(32).toString('hex'),
        PGW_TOKEN_TTL_S: 3600,
        PGW_API_HOST: '127.0.0.1',
        PGW_API_PORT: 0,
        PGW_API_METRICS_HOST: '127.0.0.1',
        PGW_API_METRICS_PORT: 0,
        PGW_TRUST_PROXY: false,
        PGW_API_HOSTNAMES: [],
        PGW_API_PUBLISHED_ON_LOOPBACK: false,
        PGW_UI_DIR: '/nonexistent',
        PGW_PROXY_ALLOW_CIDRS: [],
        ...overrides,
      };
      const harness = new ApiHarness(database, undefined as unknown as RunningApi, config, secretKey);
      if ('stream' in options && options.stream === undefined) harness.stream = 'pgw:events';
      harness.api = await startApi({
        config,
        logger: createLogger('api-test', process.env.PGW_TEST_LOG_LEVEL ?? 'error'),
        stream: harness.stream,
        queuePrefix: harness.queuePrefix,
        validateResponses: true,
        sseHeartbeatMs: 300,
        probeWaitMarginMs: 1_000,
        ...options,
      });
      return harness;
    } catch (error) {
      await database.drop();
      throw error;
    }
  }

  get url(): string {
    return this.api.url;
  }

  get db() {
    return this.database.db;
  }

  async stop(): Promise<void> {
    try {
      await this.api.stop();
    } finally {
      await this.database.drop();
    }
  }

  /** Every response is checked against API_SPEC.yaml before the test sees it. */
  async call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.csv !== undefined) headers['content-type'] = 'text/csv';
    if (options.auth && 'bearer' in options.auth) headers.authorization = `Bearer ${options.auth.bearer}`;
    if (options.auth && 'session' in options.auth) {
      headers.cookie = options.auth.session.cookie;
      const csrf = options.auth.csrf ?? true;
      if (csrf !== false) headers['x-csrf-token'] = csrf === true ? options.auth.session.csrfToken : csrf;
    }
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers,
      body: options.body !== undefined ? JSON.stringify(options.body) : (options.csv ?? options.raw),
      redirect: 'manual',
    });
    const text = await res.text();
    const contentType = res.headers.get('content-type');
    const body = contentType?.startsWith('application/json') ? JSON.parse(text) : text;
    this.contract.check(method, path, res.status, contentType, body === '' ? undefined : body);
    return { status: res.status, headers: res.headers, body, text };
  }

  async login(user: { username: string; password: string }): Promise<Session> {
    const res = await this.call('POST', '/api/v1/auth/login', { body: user });
    if (res.status !== 200) throw new Error(`login of ${user.username} failed: ${res.status} ${res.text}`);
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    return { token: res.body.token, csrfToken: res.body.csrfToken, cookie };
  }

  async auditCount(): Promise<number> {
    const row = await this.db.selectFrom('auditLog').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async seedProxy(name = `p-${randomBytes(3).toString('hex')}`, status: 'up' | 'down' | 'unknown' = 'up'): Promise<number> {
    const row = await this.db
      .insertInto('proxies')
      .values({ name, protocol: 'socks5', host: '198.51.100.10', port: 1080, username: null, passwordEnc: null, status })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async seedMapping(proxyId: number, clientIp: string, listenPort: number, enabled = true): Promise<number> {
    const row = await this.db.insertInto('mappings').values({ clientIp, proxyId, listenPort, enabled }).returning('id').executeTakeFirstOrThrow();
    return row.id;
  }
}
