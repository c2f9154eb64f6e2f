// The Compose deployment without a Docker engine: `docker-compose config` validates the file against
// Compose's schema with real env files from docker/generate-env.sh, and the parsed file is checked for
// the privilege split (capabilities, users, networks), healthchecks, restart policies and secrets.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { sealingPublicKey } from '@pgw/crypto';
import { connectRedis, redisAclTemplate, redisUser, sha256Hex } from '@pgw/events';
import type { Redis } from 'ioredis';
import { parse } from 'yaml';
import { SERVICE_SPECS, SERVICES } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const COMPOSE_FILE = join(REPO, 'docker-compose.yml');
const DOCKERFILE = join(REPO, 'docker/Dockerfile');
const ENV_FILES = ['postgres', 'migrate', 'api', 'health', 'agent', 'forwarder'];
const LONG_RUNNING = ['postgres', 'redis', 'api', 'health', 'agent', 'forwarder', 'prometheus'];
const ONE_SHOT = ['migrate', 'guard'];

interface Service {
  image?: string;
  build?: { target?: string };
  user?: string;
  network_mode?: string;
  cap_add?: string[];
  cap_drop?: string[];
  privileged?: boolean;
  restart?: string;
  env_file?: string | string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  profiles?: string[];
  security_opt?: string[];
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  command?: string[];
  cpu_shares?: number;
}

const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  assert.ok(found, `docker-compose.yml has no service "${name}"`);
  return found;
};
const templateVariables = new Set(
  readFileSync(join(REPO, '.env.template'), 'utf8')
    .split('\n')
    .map((line) => /^#?\s*(PGW_[A-Z0-9_]+)=/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined),
);

let envDir: string;
before(() => {
  envDir = mkdtempSync(join(tmpdir(), 'pgw-ops-compose-'));
  execFileSync('sh', [join(REPO, 'docker/generate-env.sh'), join(envDir, 'env')], { stdio: 'pipe' });
});
after(() => rmSync(envDir, { recursive: true, force: true }));

function dockerCompose(args: string[], env: Record<string, string>) {
  return spawnSync('docker-compose', ['-f', COMPOSE_FILE, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
}

describe('docker-compose config (Debian docker-compose 1.29)', () => {
  it('accepts the file, with and without the prometheus profile', () => {
    for (const args of [['config', '-q'], ['--profile', 'prometheus', 'config', '-q']]) {
      const result = dockerCompose(args, { PGW_ENV_DIR: join(envDir, 'env') });
      assert.equal(result.status, 0, `docker-compose ${args.join(' ')} failed: ${result.stderr}`);
    }
  });

  it('fails when an env file is missing, so the check above really reads them', () => {
    const result = dockerCompose(['config', '-q'], { PGW_ENV_DIR: join(envDir, 'nowhere') });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /env file/i);
  });

  it('lists every service; prometheus is behind its profile', () => {
    const listed = dockerCompose(['config', '--services'], { PGW_ENV_DIR: join(envDir, 'env') }).stdout.trim().split('\n').sort();
    assert.deepEqual(listed, ['agent', 'api', 'forwarder', 'guard', 'health', 'migrate', 'postgres', 'prometheus', 'redis']);
    assert.deepEqual(service('prometheus').profiles, ['prometheus']);
    for (const [name, s] of Object.entries(services)) if (name !== 'prometheus') assert.equal(s.profiles, undefined, name);
  });
});

describe('privilege split in docker-compose.yml', () => {
  it('agent: host network, root with only NET_ADMIN and NET_BIND_SERVICE (TPROXY UDP reply sockets)', () => {
    const agent = service('agent');
    assert.equal(agent.network_mode, 'host');
    assert.equal(agent.user, 'root');
    assert.deepEqual(agent.cap_drop, ['ALL']);
    assert.deepEqual(agent.cap_add, ['NET_ADMIN', 'NET_BIND_SERVICE']);
    assert.equal(agent.build?.target, 'agent');
  });

  it('guard: one-shot in the host network, root with only NET_ADMIN, before the agent', () => {
    const guard = service('guard');
    assert.equal(guard.network_mode, 'host');
    assert.deepEqual(guard.cap_drop, ['ALL']);
    assert.deepEqual(guard.cap_add, ['NET_ADMIN']);
    assert.equal(guard.restart, 'no');
    assert.equal(guard.build?.target, 'guard');
    assert.deepEqual(service('agent').depends_on?.guard, { condition: 'service_completed_successfully' });
  });

  it('forwarder: host network, user pgw, no capabilities', () => {
    const forwarder = service('forwarder');
    assert.equal(forwarder.network_mode, 'host');
    assert.equal(forwarder.user, 'pgw');
    assert.deepEqual(forwarder.cap_drop, ['ALL']);
    assert.equal(forwarder.cap_add, undefined);
  });

  it('api, health, migrate: their own non-root users, no capabilities', () => {
    for (const [name, user] of [['api', 'pgw-api'], ['health', 'pgw-health'], ['migrate', 'pgw-api']] as const) {
      assert.equal(service(name).user, user, name);
      assert.deepEqual(service(name).cap_drop, ['ALL'], name);
      assert.equal(service(name).cap_add, undefined, name);
    }
  });

  it('nothing is privileged, everything has no-new-privileges, only agent and guard add a capability', () => {
    for (const [name, s] of Object.entries(services)) {
      assert.notEqual(s.privileged, true, name);
      assert.ok(s.security_opt?.includes('no-new-privileges:true'), `${name}: no-new-privileges`);
      if (s.cap_add) assert.ok(['agent', 'guard'].includes(name), `${name} adds capabilities`);
    }
  });

  it('only the api publishes a port, on the host loopback; postgres and redis have no network', () => {
    for (const [name, s] of Object.entries(services)) if (name !== 'api') assert.equal(s.ports, undefined, name);
    assert.deepEqual(service('api').ports, ['127.0.0.1:8080:8080', '127.0.0.1:9104:9104'], 'the API and its metrics listener');
    assert.equal(service('postgres').network_mode, 'none');
    assert.equal(service('redis').network_mode, 'none');
  });
});

describe('operability in docker-compose.yml', () => {
  it('long-running services restart and have a healthcheck; one-shots do not restart', () => {
    for (const name of LONG_RUNNING) {
      assert.equal(service(name).restart, 'unless-stopped', name);
      assert.ok(service(name).healthcheck?.test.length, `${name}: healthcheck`);
    }
    for (const name of ONE_SHOT) assert.equal(service(name).restart, 'no', name);
  });

  it('services start after a successful migrate; migrate after a healthy postgres', () => {
    assert.deepEqual(service('migrate').depends_on?.postgres, { condition: 'service_healthy' });
    for (const name of ['api', 'health', 'agent', 'forwarder']) {
      assert.deepEqual(service(name).depends_on?.migrate, { condition: 'service_completed_successfully' }, name);
    }
    assert.deepEqual(service('migrate').command, ['sh', 'docker/migrate.sh']);
    const migrate = readFileSync(join(REPO, 'docker/migrate.sh'), 'utf8');
    assert.match(migrate, /node packages\/cli\/dist\/main\.js migrate\n[^]*node packages\/cli\/dist\/main\.js db roles/);
  });

  it('each node service starts with the same node flags as the demo and the tests (SERVICE_SPECS)', () => {
    for (const name of SERVICES) {
      assert.deepEqual(compose.services[name]?.command, ['node', ...SERVICE_SPECS[name].nodeFlags, `services/${name}/bundle/main.js`], name);
      // Half the default share of 1024 where the spec lowers the start-up priority (CPUWeight=50 in systemd).
      assert.equal(compose.services[name]?.cpu_shares, SERVICE_SPECS[name].niceness > 0 ? 512 : undefined, `${name} cpu_shares`);
    }
  });

  it('each pgw service reads its own env file from PGW_ENV_DIR', () => {
    for (const name of ENV_FILES) {
      assert.equal(service(name).env_file, `\${PGW_ENV_DIR:-/etc/pgw}/${name}.env`, name);
    }
  });

  it('metrics ports agree with the contracts (agent 9101, forwarder 9102, health 9103, api 9104 beside its API on 8080)', () => {
    const ports = { agent: '9101', forwarder: '9102', health: '9103' } as const;
    for (const [name, port] of Object.entries(ports)) {
      assert.equal(service(name).environment?.PGW_METRICS_PORT, port, name);
      assert.ok(service(name).healthcheck?.test.includes(`http://127.0.0.1:${port}/healthz`), name);
    }
    assert.equal(service('api').environment?.PGW_API_PORT, '8080');
    assert.equal(service('api').environment?.PGW_API_METRICS_PORT, '9104');
  });
});

describe('no secrets in the repository files', () => {
  it('environment blocks hold only known, non-secret PGW_ variables', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const variable of Object.keys(s.environment ?? {})) {
        assert.ok(templateVariables.has(variable), `${name}: ${variable} is not in .env.template`);
        assert.doesNotMatch(variable, /PASSWORD|SECRET|KEY|TOKEN/, `${name}: ${variable} belongs in an env file`);
      }
    }
  });

  it('no long random-looking strings in the compose file or the Dockerfile', () => {
    for (const file of [COMPOSE_FILE, DOCKERFILE]) {
      assert.doesNotMatch(readFileSync(file, 'utf8'), /[0-9a-f]{24,}|[A-Za-z0-9+/]{40,}={0,2}/, file);
    }
  });
});

/** user and password of postgres://user:password@/db?host=/socket (WHATWG URL refuses the empty host). */
function userinfo(url: string): { username: string; password: string } {
  const match = /^postgres:\/\/([^:@/]+):([^@/]+)@\/pgw\?host=\/var\/run\/postgresql$/.exec(url);
  assert.ok(match, `unexpected database URL shape: ${url.replace(/:[^:@]*@/, ':***@')}`);
  return { username: match[1]!, password: match[2]! };
}

describe('docker/generate-env.sh', () => {
  it('writes one 0600 file per service, only variables the services know, and the Redis aclfile', () => {
    const dir = join(envDir, 'env');
    assert.deepEqual(readdirSync(dir).sort(), [...ENV_FILES.map((f) => `${f}.env`), 'redis-users.acl'].sort());
    assert.equal(statSync(join(dir, 'redis-users.acl')).mode & 0o777, 0o644, 'the aclfile holds only password hashes, for the redis user to read');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.env'))) {
      assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, file);
      for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
        const name = /^([A-Z0-9_]+)=/.exec(line)?.[1];
        if (!name) continue;
        assert.ok(file === 'postgres.env' ? name.startsWith('POSTGRES_') : templateVariables.has(name), `${file}: unknown variable ${name}`);
      }
    }
  });

  it('gives each role the same password in migrate.env and in its service URL, and one secret key', () => {
    const read = (file: string) =>
      Object.fromEntries(
        readFileSync(join(envDir, 'env', `${file}.env`), 'utf8')
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ) as Record<string, string>;
    const migrate = read('migrate');
    for (const [service, role, variable] of [
      ['api', 'pgw_api', 'PGW_DB_PASSWORD_API'],
      ['health', 'pgw_health', 'PGW_DB_PASSWORD_HEALTH'],
      ['agent', 'pgw_agent', 'PGW_DB_PASSWORD_AGENT'],
      ['forwarder', 'pgw_forwarder', 'PGW_DB_PASSWORD_FORWARDER'],
    ] as const) {
      const url = userinfo(read(service).PGW_DATABASE_URL!);
      assert.equal(url.username, role);
      assert.equal(url.password, migrate[variable], `${service}: role password`);
      assert.ok(url.password.length >= 16);
    }
    assert.equal(userinfo(migrate.PGW_DATABASE_URL!).password, read('postgres').POSTGRES_PASSWORD);
    const keys = ['health', 'forwarder'].map((s) => read(s).PGW_SECRET_KEY);
    assert.match(keys[0]!, /^[0-9a-f]{64}$/);
    assert.equal(new Set(keys).size, 1);
    assert.equal(read('agent').PGW_SECRET_KEY, undefined, 'the agent never gets the key to the proxy passwords');
    // The api seals and cannot open: the public key only, the one the script and @pgw/crypto derive.
    assert.equal(read('api').PGW_SECRET_KEY, undefined, 'the api never gets the key to the proxy passwords');
    const publicKey = read('api').PGW_SECRET_PUBLIC_KEY;
    assert.equal(publicKey, sealingPublicKey(Buffer.from(keys[0]!, 'hex')).toString('base64'));
    const script = spawnSync('sh', [join(REPO, 'docker/secret-public-key.sh')], { input: `${keys[0]!.toUpperCase()}\n`, encoding: 'utf8' });
    assert.deepEqual([script.status, script.stdout], [0, `${publicKey}\n`], script.stderr);
    const typed = spawnSync('sh', [join(REPO, 'docker/secret-public-key.sh')], { input: 'hunter2\n', encoding: 'utf8' });
    assert.deepEqual([typed.status, typed.stdout, /must be PGW_SECRET_KEY as 64 hex characters/.test(typed.stderr), typed.stderr.includes('hunter2')], [1, '', true, false]);
  });

  it('refuses to overwrite existing files', () => {
    const before = readFileSync(join(envDir, 'env', 'api.env'), 'utf8');
    const result = spawnSync('sh', [join(REPO, 'docker/generate-env.sh'), join(envDir, 'env')], { encoding: 'utf8' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /exists, nothing written/);
    assert.equal(readFileSync(join(envDir, 'env', 'api.env'), 'utf8'), before);
  });
});

describe('stores with least privilege', () => {
  const read = (file: string) => readFileSync(join(envDir, 'env', file), 'utf8');
  const variable = (file: string, name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(read(file))?.[1];

  it('only the migrate job gets the Postgres superuser (and the postgres container, which creates it)', () => {
    const owner = userinfo(variable('migrate.env', 'PGW_DATABASE_URL')!);
    assert.equal(owner.username, 'pgw_owner');
    for (const [name, s] of Object.entries(services)) {
      const files = [s.env_file ?? []].flat();
      if (name !== 'migrate') assert.ok(!files.some((f) => f.endsWith('/migrate.env')), `${name} reads migrate.env`);
      if (name !== 'postgres') assert.ok(!files.some((f) => f.endsWith('/postgres.env')), `${name} reads postgres.env`);
      for (const value of Object.values(s.environment ?? {})) assert.doesNotMatch(String(value), /pgw_owner|POSTGRES_/, name);
    }
    for (const service of ['api', 'health', 'agent', 'forwarder']) {
      const text = read(`${service}.env`);
      assert.ok(!text.includes(owner.password), `${service}.env holds the owner's password`);
      assert.doesNotMatch(text, /pgw_owner|POSTGRES_/, service);
      assert.equal(userinfo(variable(`${service}.env`, 'PGW_DATABASE_URL')!).username, `pgw_${service}`);
    }
  });

  it('redis requires authentication: it loads the generated aclfile, each service has its own user and password', () => {
    const redis = service('redis');
    const command = redis.command ?? [];
    assert.equal(command[command.indexOf('--aclfile') + 1], '/etc/redis/users.acl');
    assert.ok((redis as { volumes?: string[] }).volumes?.includes('${PGW_ENV_DIR:-/etc/pgw}/redis-users.acl:/etc/redis/users.acl:ro'));
    const passwords = new Set<string>();
    for (const s of ['api', 'health', 'agent', 'forwarder'] as const) {
      const url = new URL(`file://${variable(`${s}.env`, 'PGW_REDIS_URL')!}`);
      assert.equal(url.pathname, '/run/redis/redis.sock');
      assert.equal(url.searchParams.get('username'), redisUser(s));
      const password = url.searchParams.get('password')!;
      assert.match(password, /^[0-9a-f]{64}$/);
      passwords.add(password);
      assert.ok(read('redis-users.acl').includes(`user ${redisUser(s)} on #${sha256Hex(password)} `), `${s}: its hash is in the aclfile`);
    }
    assert.equal(passwords.size, 4, 'no two services share a password');
  });

  it('the generated aclfile is what @pgw/events renders, and a real redis-server enforces it', async () => {
    assert.equal(readFileSync(join(REPO, 'docker/redis-users.acl.in'), 'utf8'), redisAclTemplate(), 'regenerate: node --conditions=pgw-source --import tsx docker/render-redis-acl.ts > docker/redis-users.acl.in');
    const dir = join(envDir, 'redis');
    mkdirSync(dir);
    const socket = join(dir, 'redis.sock');
    const server = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', dir, '--aclfile', join(envDir, 'env', 'redis-users.acl')], { stdio: 'ignore' });
    const clients: Redis[] = [];
    try {
      await waitFor('redis-server on its socket', 5_000, () => existsSync(socket));
      const connect = (url: string) => {
        const client = connectRedis(url, { maxRetriesPerRequest: 1, enableReadyCheck: false });
        client.on('error', () => undefined);
        clients.push(client);
        return client;
      };
      const anonymous = connect(socket);
      assert.equal(await anonymous.ping(), 'PONG');
      await assert.rejects(anonymous.get('pgw:agent:status:gw'), /NOPERM/);
      const agent = connect(variable('agent.env', 'PGW_REDIS_URL')!.replace('/run/redis/redis.sock', socket));
      assert.equal(await agent.set('pgw:agent:status:gw', '{}'), 'OK');
      const api = connect(variable('api.env', 'PGW_REDIS_URL')!.replace('/run/redis/redis.sock', socket));
      assert.equal(await api.get('pgw:agent:status:gw'), '{}');
      await assert.rejects(api.set('pgw:agent:status:gw', '{"forged":true}'), /NOPERM/);
    } finally {
      for (const client of clients) client.disconnect();
      server.kill();
      await once(server, 'exit');
    }
  });
});

describe('docker/Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  const stages = new Map<string, string>();
  for (const block of text.split(/^(?=FROM )/m).slice(1)) stages.set(/ AS (\w+)/.exec(block.split('\n')[0]!)?.[1] ?? '', block);
  const lastUser = (stage: string) => [...(stages.get(stage) ?? '').matchAll(/^USER (\S+)/gm)].at(-1)?.[1];

  it('is multi-stage on node:20-bookworm-slim; the build stage runs npm ci and npm run build', () => {
    assert.match(text, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    assert.deepEqual([...stages.keys()], ['build', 'runtime', 'agent', 'guard']);
    assert.match(stages.get('build')!, /npm ci\b[^]*npm run build/);
    assert.match(stages.get('runtime')!, /COPY --from=build/);
    assert.doesNotMatch(stages.get('runtime')!, /g\+\+|python3/, 'no build tools at run time');
  });

  it('runtime defaults to a non-root user and creates the service users with fixed uids', () => {
    assert.equal(lastUser('runtime'), 'pgw-api');
    for (const [user, uid] of [['pgw', 10001], ['pgw-api', 10002], ['pgw-health', 10003]] as const) {
      assert.match(stages.get('runtime')!, new RegExp(`useradd --system --uid ${uid} --gid ${user} `));
    }
  });

  it('only the agent and guard images run as root, and they carry nft', () => {
    assert.equal(lastUser('agent'), 'root');
    assert.match(stages.get('agent')!, /install[^\n]*nftables/);
    assert.match(stages.get('guard')!, /install[^\n]*nftables/);
    assert.match(stages.get('guard')!, /COPY guard\/pgw-guard\.nft/);
  });
});
