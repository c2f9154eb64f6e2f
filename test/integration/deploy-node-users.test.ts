// Deployment wiring of an HA pair's per-node Redis users (issue 18): docker/generate-env.sh with
// PGW_NODE_NAME gives the node's agent and forwarder their own users (from the committed
// docker/redis-node-users.acl.in, which must be what @pgw/events renders), and a real redis-server
// with the aclfile of both nodes (each node's generated file) lets node a's agent write its own keys
// and refuses node b's. A name with a glob character is refused and nothing is written.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentStatusKey, connectRedis, haStatusKey, redisNodeAclTemplate } from '@pgw/events';
import { execa } from 'execa';
import type { Redis } from 'ioredis';
import { waitFor } from '../../lab/wait.js';
import { REPO_ROOT } from '../support/gateway.js';

const envValue = (file: string, key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(readFileSync(file, 'utf8'))?.[1];

describe('generate-env.sh with PGW_NODE_NAME: per-node Redis users for an HA pair', () => {
  let dir: string;
  let redis: ChildProcess | undefined;
  const clients: Redis[] = [];
  const generate = (node: string, out: string) =>
    execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), out], { env: { PGW_NODE_NAME: node, PGW_REDIS_URL: join(dir, 'redis.sock') }, reject: false });

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgw-deploy-nodes-'));
  });
  after(() => {
    for (const client of clients) client.disconnect();
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('the committed node template is what @pgw/events renders', () => {
    assert.equal(readFileSync(join(REPO_ROOT, 'docker/redis-node-users.acl.in'), 'utf8'), redisNodeAclTemplate(), 'regenerate: node --conditions=pgw-source --import tsx docker/render-redis-acl.ts --node > docker/redis-node-users.acl.in');
  });

  it('refuses a node name with a glob character and writes nothing', async () => {
    const result = await generate('pgw-*', join(dir, 'bad'));
    assert.notEqual(result.exitCode, 0);
    assert.match(result.stderr, /PGW_NODE_NAME may hold only letters, digits/);
    assert.equal(existsSync(join(dir, 'bad')), false);
  });

  it("node a's agent writes its own keys and is refused node b's, on a redis-server with both nodes' users", async () => {
    for (const node of ['pgw-a', 'pgw-b']) {
      const result = await generate(node, join(dir, node));
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(envValue(join(dir, node, 'agent.env'), 'PGW_NODE_NAME'), node);
      assert.equal(envValue(join(dir, node, 'forwarder.env'), 'PGW_NODE_NAME'), node);
      assert.match(envValue(join(dir, node, 'agent.env'), 'PGW_REDIS_URL')!, new RegExp(`username=pgw-agent-${node}&`));
      const acl = readFileSync(join(dir, node, 'redis-users.acl'), 'utf8');
      assert.doesNotMatch(acl, /^user pgw-(agent|forwarder) /m, 'no shared agent or forwarder user');
    }
    // The pair's Redis: node a's aclfile plus node b's two lines, as DEPLOYMENT.md says.
    const aclfile = join(dir, 'pair.acl');
    writeFileSync(aclfile, readFileSync(join(dir, 'pgw-a', 'redis-users.acl'), 'utf8') + readFileSync(join(dir, 'pgw-b', 'redis-users-pgw-b.acl'), 'utf8'));
    redis = spawn('redis-server', ['--port', '0', '--unixsocket', join(dir, 'redis.sock'), '--save', '', '--appendonly', 'no', '--aclfile', aclfile], { stdio: 'ignore' });
    await waitFor('redis socket', 5_000, () => existsSync(join(dir, 'redis.sock')), { intervalMs: 50 });
    const connect = (url: string) => {
      const client = connectRedis(url, { maxRetriesPerRequest: 1 });
      client.on('error', () => undefined);
      clients.push(client);
      return client;
    };
    const agentA = connect(envValue(join(dir, 'pgw-a', 'agent.env'), 'PGW_REDIS_URL')!);
    const agentB = connect(envValue(join(dir, 'pgw-b', 'agent.env'), 'PGW_REDIS_URL')!);
    await agentA.set(agentStatusKey('pgw-a'), '{"ok":true}', 'EX', 60);
    await agentB.set(haStatusKey('pgw-b'), '{"state":"BACKUP"}', 'EX', 3);
    await assert.rejects(agentA.set(agentStatusKey('pgw-b'), '{"ok":false}'), /NOPERM/);
    await assert.rejects(agentA.set(haStatusKey('pgw-b'), '{"state":"MASTER"}'), /NOPERM/);
    await assert.rejects(agentB.set(agentStatusKey('pgw-a'), '{}'), /NOPERM/);
  });

  it('PGW_SHARED_ENV: the second node takes every shared secret from the first node\'s files; only its agent and forwarder users are its own', async () => {
    for (const base of [join(dir, 'redis.sock'), 'redis://127.0.0.1:6379']) {
      const out = (node: string) => join(dir, `shared-${base.length}-${node}`);
      const first = await execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), out('a')], { env: { PGW_NODE_NAME: 'node-a', PGW_REDIS_URL: base }, reject: false });
      assert.equal(first.exitCode, 0, first.stderr);
      const second = await execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), out('b')], { env: { PGW_NODE_NAME: 'node-b', PGW_REDIS_URL: base, PGW_SHARED_ENV: out('a') }, reject: false });
      assert.equal(second.exitCode, 0, second.stderr);
      const [a, b] = [out('a'), out('b')];
      // Fresh values here locked the other node out of the one Postgres and Redis, and left its
      // forwarder unable to open the proxy passwords the first node's api sealed.
      assert.equal(readFileSync(join(b, 'migrate.env'), 'utf8'), readFileSync(join(a, 'migrate.env'), 'utf8'), `migrate.env (${base})`);
      for (const [file, key] of [['api.env', 'PGW_SECRET_PUBLIC_KEY'], ['health.env', 'PGW_SECRET_KEY'], ['api.env', 'PGW_JWT_SECRET'], ['api.env', 'PGW_CSRF_SECRET'], ['api.env', 'PGW_REDIS_URL'], ['health.env', 'PGW_REDIS_URL'], ['forwarder.env', 'PGW_SECRET_KEY'], ['agent.env', 'PGW_DATABASE_URL'], ['forwarder.env', 'PGW_DATABASE_URL']] as const) {
        assert.equal(envValue(join(b, file), key), envValue(join(a, file), key), `${file} ${key} (${base})`);
      }
      // The first admin is in the shared database already: its password is not written again in
      // plain text on the second node (DEPLOYMENT.md says to remove it from the first after its start).
      assert.equal(envValue(join(b, 'api.env'), 'PGW_ADMIN_PASSWORD'), undefined, 'the first admin\'s password copied to the second node');
      assert.equal(envValue(join(b, 'api.env'), 'PGW_ADMIN_USERNAME'), undefined);
      assert.notEqual(envValue(join(b, 'agent.env'), 'PGW_REDIS_URL'), envValue(join(a, 'agent.env'), 'PGW_REDIS_URL'));
      assert.match(envValue(join(b, 'forwarder.env'), 'PGW_REDIS_URL')!, /pgw-forwarder-node-b/);
      // The pair's aclfile: node a's and node b's lines for the shared users are the same.
      const shared = (acl: string) => acl.split('\n').filter((line) => /^user pgw-(api|health) /.test(line));
      assert.deepEqual(shared(readFileSync(join(b, 'redis-users.acl'), 'utf8')), shared(readFileSync(join(a, 'redis-users.acl'), 'utf8')));
    }
    // The first node's api.env without its PGW_ADMIN_* lines, as DEPLOYMENT.md says after the first start: the second node is generated all the same.
    const removed = join(dir, 'shared-admin-removed');
    cpSync(join(dir, 'pgw-a'), removed, { recursive: true });
    writeFileSync(join(removed, 'api.env'), readFileSync(join(removed, 'api.env'), 'utf8').replace(/^PGW_ADMIN_\w+=.*\n/gm, ''));
    const afterRemoval = await execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), join(dir, 'shared-after-removal')], { env: { PGW_NODE_NAME: 'node-d', PGW_SHARED_ENV: removed }, reject: false });
    assert.equal(afterRemoval.exitCode, 0, `the first node's admin lines removed, as documented: ${afterRemoval.stderr}`);
    // A run that fails halfway (a shared file without the JWT secret) leaves nothing: the next run goes through.
    const broken = join(dir, 'shared-broken');
    execFileSync('cp', ['-r', join(dir, 'pgw-a'), broken]);
    writeFileSync(join(broken, 'api.env'), readFileSync(join(broken, 'api.env'), 'utf8').replace(/^PGW_JWT_SECRET=.*\n/m, ''));
    const half = await execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), join(dir, 'shared-half')], { env: { PGW_NODE_NAME: 'node-c', PGW_SHARED_ENV: broken }, reject: false });
    assert.notEqual(half.exitCode, 0);
    assert.match(half.stderr, /no PGW_JWT_SECRET in .*api\.env/);
    assert.deepEqual(readdirSync(join(dir, 'shared-half')), [], 'nothing written by the failed run');
    assert.equal((await execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), join(dir, 'shared-half')], { env: { PGW_NODE_NAME: 'node-c', PGW_SHARED_ENV: join(dir, 'pgw-a') }, reject: false })).exitCode, 0, 'the retry');
    const alone = await execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), join(dir, 'shared-alone')], { env: { PGW_SHARED_ENV: join(dir, 'pgw-a') }, reject: false });
    assert.notEqual(alone.exitCode, 0);
    assert.match(alone.stderr, /PGW_SHARED_ENV is for the second node of a pair/);
    assert.equal(existsSync(join(dir, 'shared-alone')), false);
  });

  it('a redis:// base puts each password in the URL without handing it to a command (argv is readable by every local user)', async () => {
    // A sed first on PATH records its arguments, then does its work; the script may use it elsewhere.
    const bin = join(dir, 'bin');
    const argv = join(dir, 'argv.log');
    execFileSync('mkdir', ['-p', bin]);
    writeFileSync(join(bin, 'sed'), `#!/bin/sh\nprintf '%s\\n' "$*" >> ${argv}\nexec /usr/bin/sed "$@"\n`, { mode: 0o755 });
    const out = join(dir, 'tcp');
    const result = await execa('sh', [join(REPO_ROOT, 'docker/generate-env.sh'), out], { env: { PATH: `${bin}:${process.env.PATH}`, PGW_REDIS_URL: 'redis://127.0.0.1:6379' }, reject: false });
    assert.equal(result.exitCode, 0, result.stderr);
    const url = envValue(join(out, 'forwarder.env'), 'PGW_REDIS_URL')!;
    const password = /^redis:\/\/pgw-forwarder:([0-9a-f]{64})@127\.0\.0\.1:6379$/.exec(url)?.[1];
    assert.ok(password, `the forwarder's URL: ${url}`);
    const commands = existsSync(argv) ? readFileSync(argv, 'utf8') : '';
    assert.ok(!commands.includes(password), `a command line held the forwarder's Redis password: ${commands}`);
  });
});
