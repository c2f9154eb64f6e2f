// Issue 11 point 3 / issue 13 point 4: a forwarder that starts while Postgres is unreachable serves
// the mappings of the desired state it last loaded (its cache file), as the agent enforces its state
// file; without the cache it serves nothing. In the lab with the real agent ruleset and an
// authenticated upstream (tinyproxy Basic auth), so the cached sealed credentials are used too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLab, type Lab } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT } from '../support/gateway.js';
import { readyzAnswer } from '../support/readyz.js';
import { waitFor } from '../../lab/wait.js';

const PORT = 20000;
const UNREACHABLE_DB = 'postgres://pgw_forwarder:unreachable@/pgw?host=/nonexistent-pgw-socket-dir';

describe('forwarder start from its cached desired state with Postgres unreachable', { timeout: 240_000 }, () => {
  let lab: Lab;
  let tdb: TestDatabase;
  let gateway: Gateway;
  let client: string;
  const cacheFile = () => join(gateway.forwarderStateDir, 'desired-state.json');
  const get = () => lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: client, timeoutMs: 3000 });

  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 240_000 });
    lab = await createLab({ clients: 2, proxies: ['http-auth'] });
    tdb = await createTestDatabase({ prefix: 'pgw_fcache' });
    gateway = new Gateway(lab, tdb);
    client = lab.clients[0]!;
    const proxyId = await gateway.seedProxy(lab.proxies[0]!, { status: 'up' });
    await gateway.seedMapping(client, proxyId, PORT);
    await lab.exec(lab.ns.gateway, ['sh', `${REPO_ROOT}guard/load-guard.sh`]);
    await gateway.start('agent');
    await gateway.start('forwarder');
    await waitFor('the client served with Postgres up', 15_000, async () => (await get()).ok);
  });
  after(async () => {
    await gateway?.destroy();
    await lab?.destroy();
    await tdb?.drop();
  });

  it('keeps the loaded state on disk: mode 0600, the password sealed', async () => {
    await waitFor('the cache file naming the client', 10_000, async () => (await readFile(cacheFile(), 'utf8').catch(() => '')).includes(`"${client}"`));
    assert.equal((await stat(cacheFile())).mode & 0o777, 0o600);
    const text = await readFile(cacheFile(), 'utf8');
    assert.ok(!text.includes(lab.proxies[0]!.password!), 'the upstream password is not in the file in clear');
  });

  it('serves the cached mappings when it starts with Postgres unreachable', async () => {
    await gateway.kill('forwarder');
    const started = Date.now();
    await gateway.start('forwarder', { PGW_DATABASE_URL: UNREACHABLE_DB });
    const ms = await waitFor('the client served from the cached state', 10_000, async () => (await get()).ok).then(() => Date.now() - started);
    console.log(`# client served ${ms} ms after the forwarder's start with Postgres unreachable`);
    const log = await readFile(gateway.process('forwarder')!.logFile, 'utf8');
    assert.match(log, /serving the cached desired state/);
  });

  it('serves the cached mappings before Postgres answers (a Postgres that accepts and never answers)', async () => {
    // The boot fast path serves the cache first; before it, the client waited for the first load
    // to fail (the 3 s connect timeout) and only then got the cached state.
    const dir = await mkdtemp(join(tmpdir(), 'pgw-silent-pg-'));
    await chmod(dir, 0o755);
    const silent = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(join(dir, '.s.PGSQL.5432'), resolve));
    try {
      await chmod(join(dir, '.s.PGSQL.5432'), 0o777);
      // The log file is the lab's, one per service: only what this start writes counts.
      const logFile = gateway.process('forwarder')!.logFile;
      await gateway.kill('forwarder');
      const before = (await readFile(logFile, 'utf8')).length;
      // start() resolves at /healthz, which answers once Postgres was asked: not awaited first.
      const starting = gateway.start('forwarder', { PGW_DATABASE_URL: `postgres://pgw_forwarder:silent@/pgw?host=${dir}` });
      starting.catch(() => undefined);
      await waitFor('the client served from the cached state', 10_000, async () => (await get()).ok);
      const log = (await readFile(logFile, 'utf8')).slice(before);
      assert.doesNotMatch(log, /Postgres unreachable at start/, 'served before the first load from Postgres gave up');
      assert.match(log, /cached desired state loaded, served until Postgres answers/);
      await starting;
    } finally {
      silent.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a Postgres that goes silent mid-load does not freeze the forwarder: once it answers again, a new mapping is served', async () => {
    // Between the forwarder and Postgres, a relay on a Unix socket that can go silent: it then
    // swallows what it gets on every connection open then or later (a partition, a hung server), as
    // those connections stay after it heals. The load that went out before stayed unanswered, and
    // every later run waited behind it until TCP gave up (a quarter of an hour).
    const dir = await mkdtemp(join(tmpdir(), 'pgw-stalling-pg-'));
    await chmod(dir, 0o755);
    // postgres://user:password@/database?host=<socket dir>: no host for WHATWG URL, so by hand.
    const forwarderUrl = tdb.urlFor('pgw_forwarder');
    const upstreamSocket = decodeURIComponent(/[?&]host=([^&]+)/.exec(forwarderUrl)?.[1] ?? '%2Fvar%2Frun%2Fpostgresql');
    let silent = false;
    const open: Socket[] = [];
    const relay = createServer((client) => {
      open.push(client);
      client.on('error', () => undefined);
      if (silent) return void client.on('data', () => undefined);
      const upstream = connect(join(upstreamSocket, '.s.PGSQL.5432'));
      upstream.on('error', () => client.destroy());
      client.on('data', (chunk) => void (silent || upstream.write(chunk)));
      upstream.on('data', (chunk) => void (silent || client.write(chunk)));
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(join(dir, '.s.PGSQL.5432'), resolve));
    await chmod(join(dir, '.s.PGSQL.5432'), 0o777);
    const url = forwarderUrl.replace(/([?&]host=)[^&]+/, `$1${encodeURIComponent(dir)}`);
    const second = lab.clients[1]!;
    const getSecond = () => lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: second, timeoutMs: 3000 });
    try {
      await gateway.kill('forwarder');
      await gateway.start('forwarder', { PGW_DATABASE_URL: url });
      await waitFor('the client served through the relay', 15_000, async () => (await get()).ok);
      silent = true;
      // The next runs' loads (the 2 s resync) go out and get nothing.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      await gateway.seedMapping(second, (await tdb.db.selectFrom('proxies').select('id').executeTakeFirstOrThrow()).id, PORT + 1);
      silent = false;
      const healed = Date.now();
      await waitFor('the new mapping served by the forwarder after Postgres answers again', 20_000, async () => (await getSecond()).ok);
      console.log(`# the new mapping served ${Date.now() - healed} ms after Postgres answered again`);
      const log = await readFile(gateway.process('forwarder')!.logFile, 'utf8');
      assert.match(log, /the desired state was not read within 5000 ms/);
    } finally {
      for (const socket of open) socket.destroy();
      relay.close();
      await rm(dir, { recursive: true, force: true });
      await gateway.kill('forwarder');
      await gateway.start('forwarder');
    }
  });

  const readyz = () => readyzAnswer(lab, lab.ns.gateway, 9102);

  it('without the cache, a forwarder started with Postgres unreachable serves nothing (control), and says it is not ready', async () => {
    await gateway.kill('forwarder');
    await rm(cacheFile());
    await gateway.start('forwarder', { PGW_DATABASE_URL: UNREACHABLE_DB });
    // Given the same time the cached start needed and more: still nothing.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const attempt = await get();
    assert.equal(attempt.ok, false, 'no listener, no answer');
    // keepalived's check (pgw-ha-check.sh) leaves the virtual IP to a peer meanwhile.
    assert.match(await readyz(), /^no mappings loaded yet \(Postgres: .+; no usable cached desired state\)\n HTTP 503$/);
    await gateway.kill('forwarder');
    await gateway.start('forwarder');
    await waitFor('served again once Postgres is reachable', 15_000, async () => (await get()).ok);
    assert.equal(await readyz(), 'ready\n HTTP 200');
  });
});
