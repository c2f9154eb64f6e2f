// Interop matrix (issue 12 point 1): the real health service and the real forwarder and agent in
// the lab against independent proxy servers in the WAN namespace: dante, OpenSSH `ssh -D`, a
// SOCKS5 server from npm, tinyproxy, squid, privoxy, and test-written servers for the hard cases
// (lab/odd-proxy-server.ts). Each working row: the health probe reports it up with the
// proxy's own address as exit IP and the handshake it learned, and a LAN client exits through it
// (forwarder, learned handshake), then again over a TCP Fast Open dial (the WAN namespace takes it
// on every listener: the CONNECT in the SYN). Each failure row: down, with an error naming the failed step.
// The table printed at the end is the one in docs/OPERATIONS.md ("Proxy interop").
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encryptSecret } from '@pgw/crypto';
import type { ProxyHandshake } from '@pgw/domain';
import { addWanAddress, type InteropProxy, snatUid, startNpmSocks5, startOdd, startPrivoxy, startSquid, startSshDynamic } from '../../lab/interop-proxies.js';
import { LAB_PROXY_CREDENTIALS } from '../../lab/lab.js';
import type { OddBehaviour } from '../../lab/odd-proxy-server.js';
import { cleanupStaleLabs, createLab, type Lab, readTcpExt } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT as REPO } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';
import { GUARD_LOADER } from './dataplane-harness.js';

/** The lab, its database and the services: what each row needs. */
interface Dataplane {
  readonly lab: Lab;
  readonly tdb: TestDatabase;
  readonly gateway: Gateway;
}

const AUTH = { ...LAB_PROXY_CREDENTIALS };
const WRONG = { username: AUTH.username, password: 'not-the-password' };
const BANNER_PORT = 2323;

interface Row {
  readonly server: string;
  readonly auth: 'none' | 'username' | 'wrong password' | 'missing';
  readonly start: (ip: string) => Promise<InteropProxy>;
  /** Credentials pgw dials with. */
  readonly credentials?: { username: string; password: string };
  /** Working rows: the handshake auto must learn (null: HTTP, nothing to learn). Failure rows: the error. */
  readonly expect: { up: true; learned: ProxyHandshake | null } | { up: false; error: RegExp };
}

const odd = (dp: () => Dataplane, behaviour: OddBehaviour, protocol: 'socks5' | 'http', auth?: typeof AUTH) => async (ip: string): Promise<InteropProxy> => {
  const port = protocol === 'socks5' ? 1080 : 3128;
  await startOdd(dp().lab, behaviour, ip, port, auth);
  return { protocol, ip, port };
};

let dp: Dataplane;
const get = () => dp;
const ROWS: Row[] = [
  { server: 'dante 1.4', auth: 'none', start: async () => ({ protocol: 'socks5', ip: dp.lab.proxies[0]!.ip, port: 1080 }), expect: { up: true, learned: 'early-data' } },
  { server: 'dante 1.4', auth: 'username', credentials: AUTH, start: async () => ({ protocol: 'socks5', ip: dp.lab.proxies[1]!.ip, port: 1080 }), expect: { up: true, learned: 'early-data' } },
  { server: 'OpenSSH 9.2 ssh -D', auth: 'none', start: (ip) => startSshDynamic(dp.lab, ip), expect: { up: true, learned: 'early-data' } },
  { server: 'npm @pondwader/socks5-server', auth: 'none', start: async (ip) => (await startNpmSocks5(dp.lab, ip, 1080), await snatUid(dp.lab, 'daemon', ip), { protocol: 'socks5', ip, port: 1080 }), expect: { up: true, learned: 'pipelined' } },
  { server: 'test: one read per message (drops pipelined bytes)', auth: 'none', start: odd(get, 'socks5-one-read', 'socks5'), expect: { up: true, learned: 'sequential' } },
  { server: 'test: one read per message (drops pipelined bytes)', auth: 'username', credentials: AUTH, start: odd(get, 'socks5-one-read', 'socks5', AUTH), expect: { up: true, learned: 'sequential' } },
  { server: 'test: drops bytes sent before its CONNECT reply', auth: 'none', start: odd(get, 'socks5-drops-early-data', 'socks5'), expect: { up: true, learned: 'pipelined' } },
  { server: 'test: replies byte by byte', auth: 'username', credentials: AUTH, start: odd(get, 'socks5-split', 'socks5', AUTH), expect: { up: true, learned: 'early-data' } },
  { server: 'test: domain BND.ADDR', auth: 'none', start: odd(get, 'socks5-bnd-domain', 'socks5'), expect: { up: true, learned: 'early-data' } },
  { server: 'test: IPv6 BND.ADDR', auth: 'none', start: odd(get, 'socks5-bnd-ipv6', 'socks5'), expect: { up: true, learned: 'early-data' } },
  {
    server: 'test: closes after method selection',
    auth: 'none',
    start: odd(get, 'socks5-close-after-method', 'socks5'),
    expect: { up: false, error: /SOCKS5 reply: proxy closed the connection after the method selection/ },
  },
  {
    server: 'dante 1.4',
    auth: 'wrong password',
    credentials: WRONG,
    start: async () => ({ protocol: 'socks5', ip: dp.lab.proxies[1]!.ip, port: 1080 }),
    expect: { up: false, error: /SOCKS5 auth: proxy rejected the username\/password/ },
  },
  { server: 'tinyproxy 1.11', auth: 'none', start: async () => ({ protocol: 'http', ip: dp.lab.proxies[2]!.ip, port: 3128 }), expect: { up: true, learned: null } },
  { server: 'tinyproxy 1.11', auth: 'username', credentials: AUTH, start: async () => ({ protocol: 'http', ip: dp.lab.proxies[3]!.ip, port: 3128 }), expect: { up: true, learned: null } },
  { server: 'squid 5', auth: 'none', start: (ip) => startSquid(dp.lab, ip), expect: { up: true, learned: null } },
  { server: 'squid 5', auth: 'username', credentials: AUTH, start: (ip) => startSquid(dp.lab, ip, AUTH), expect: { up: true, learned: null } },
  {
    server: 'squid 5 (407 challenge)',
    auth: 'missing',
    start: (ip) => startSquid(dp.lab, ip, AUTH),
    expect: { up: false, error: /HTTP CONNECT auth: proxy requires authentication but no credentials are configured: "HTTP\/1\.1 407/ },
  },
  { server: 'privoxy 3', auth: 'none', start: (ip) => startPrivoxy(dp.lab, ip), expect: { up: true, learned: null } },
  { server: 'test: HTTP/1.0 200 Connection established', auth: 'none', start: odd(get, 'http-1.0', 'http'), expect: { up: true, learned: null } },
  { server: 'test: extra response headers', auth: 'username', credentials: AUTH, start: odd(get, 'http-headers', 'http', AUTH), expect: { up: true, learned: null } },
  { server: 'test: 200 and first tunnel bytes in one segment', auth: 'none', start: odd(get, 'http-same-segment', 'http'), expect: { up: true, learned: null } },
  { server: 'test: bare LF line ends', auth: 'none', start: odd(get, 'http-bare-lf', 'http'), expect: { up: true, learned: null } },
  {
    server: 'test: wrong credentials answered 407',
    auth: 'wrong password',
    credentials: WRONG,
    start: odd(get, 'http-headers', 'http', AUTH),
    expect: { up: false, error: /HTTP CONNECT auth: proxy rejected the credentials: "HTTP\/1\.1 407 Proxy Authentication Required"/ },
  },
];
const WORKING = ROWS.filter((r) => r.expect.up).length;

interface Seeded {
  row: Row;
  proxy: InteropProxy;
  id: number;
  client?: string;
}
const seeded: Seeded[] = [];
const table: string[] = [];

describe('proxy interop matrix (real health, forwarder and agent in the lab)', { timeout: 300_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', join(REPO, 'services/forwarder'), join(REPO, 'services/health')], { cwd: REPO, stdio: 'inherit', timeout: 180_000 });
    await cleanupStaleLabs();
    const lab = await createLab({ clients: WORKING, proxies: ['socks5', 'socks5-auth', 'http', 'http-auth'], proxyHostFastOpen: true });
    const tdb = await createTestDatabase({ prefix: 'pgw_interop' }).catch(async (error: unknown) => {
      await lab.destroy();
      throw error;
    });
    dp = { lab, tdb, gateway: new Gateway(lab, tdb) };
    await lab.exec(lab.ns.gateway, [GUARD_LOADER]);
    await startOdd(dp.lab, 'banner', dp.lab.description.internet.ip, BANNER_PORT);
    await dp.tdb.db
      .updateTable('settings')
      .set({ healthIntervalS: 30, probeTimeoutMs: 3000, checkUrl: dp.lab.description.internet.echoUrl, recoverThreshold: 1 })
      .where('id', '=', 1)
      .execute();
    let next = 30;
    let client = 0;
    for (const row of ROWS) {
      const labOwn = row.server.startsWith('dante') || row.server.startsWith('tinyproxy');
      const ip = `198.51.100.${next++}`;
      if (!labOwn) await addWanAddress(dp.lab, ip);
      const proxy = await row.start(ip);
      const inserted = await dp.tdb.db
        .insertInto('proxies')
        .values({
          name: `${row.server} ${row.auth} ${proxy.ip}`.slice(0, 100),
          protocol: proxy.protocol,
          host: proxy.ip,
          port: proxy.port,
          username: row.credentials?.username ?? null,
          passwordEnc: row.credentials ? encryptSecret(row.credentials.password, dp.gateway.secretKey) : null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      const entry: Seeded = { row, proxy, id: inserted.id };
      if (row.expect.up) {
        entry.client = dp.lab.clients[client]!;
        await dp.gateway.seedMapping(entry.client, inserted.id, 20000 + client++);
      }
      seeded.push(entry);
    }
    await dp.gateway.start('health');
    await dp.gateway.start('forwarder');
    await dp.gateway.start('agent');
  });

  after(async () => {
    if (table.length > 0) console.log(['| server | auth | handshake learned | result |', '|---|---|---|---|', ...table].join('\n'));
    await dp?.gateway.destroy();
    await dp?.tdb.drop();
    await dp?.lab.destroy();
  });

  it('every working proxy is up with its own exit IP and the handshake it accepts; every failure row is down naming the step', async () => {
    for (const { row, proxy, id } of seeded) {
      const what = `${row.server} (${row.auth})`;
      const state = await waitFor(`${what} probed`, 20_000, async () => {
        const r = await dp.tdb.db.selectFrom('proxies').select(['status', 'exitIp', 'lastError', 'handshakeLearned']).where('id', '=', id).executeTakeFirstOrThrow();
        return r.status === 'unknown' ? undefined : r;
      });
      if (row.expect.up) {
        assert.equal(state.status, 'up', `${what}: ${state.lastError}`);
        assert.equal(state.exitIp, proxy.ip, `${what} exit IP`);
        assert.equal(state.handshakeLearned, row.expect.learned, `${what} handshake learned`);
      } else {
        assert.equal(state.status, 'down', what);
        assert.match(state.lastError ?? '', row.expect.error, what);
        assert.equal(state.handshakeLearned, null, `${what}: nothing learned`);
      }
      table.push(`| ${row.server} | ${row.auth} | ${proxy.protocol === 'http' ? 'n/a (one request)' : (state.handshakeLearned ?? '—')} | ${state.status === 'up' ? `up, exit ${state.exitIp}` : `down: ${(state.lastError ?? '').replace(/^.*?: (?=(SOCKS5|HTTP CONNECT) )/, '')}`} |`);
    }
  });

  /** The address a GET from `client` exits from through the forwarder, waited for up to 15 s. */
  async function exitThroughForwarder(what: string, client: string): Promise<string> {
    const result = await waitFor(`${what} through the forwarder`, 15_000, async () => {
      const r = await dp.lab.httpGet({ ns: dp.lab.ns.lan, url: dp.lab.description.internet.echoUrl, sourceIp: client, timeoutMs: 3_000 });
      return r.ok && r.status === 200 ? r : undefined;
    });
    return (JSON.parse(result.body) as { ip: string }).ip;
  }

  it('a LAN client exits through each working proxy (the forwarder dials with the learned handshake)', async () => {
    for (const { row, proxy, client } of seeded.filter((s) => s.client !== undefined)) {
      // The agent applies the mapping once it has seen the proxy up: the first request may come before.
      assert.equal(await exitThroughForwarder(`${row.server} (${row.auth})`, client!), proxy.ip, `${row.server} (${row.auth}) exit`);
    }
  });

  it('a LAN client exits through each working proxy over a TCP Fast Open dial (the CONNECT in the SYN, taken there)', async () => {
    // No warm connection: every client connection is a cold dial, the one Fast Open is for.
    await dp.gateway.withRestarted('forwarder', { PGW_FORWARDER_WARM_POOL: 'false' }, async () => {
      for (const { row, proxy, client } of seeded.filter((s) => s.client !== undefined)) {
        const what = `${row.server} (${row.auth})`;
        const taken = await readTcpExt(dp.lab.ns.wan, 'TCPFastOpenPassive');
        // The first dial to an address fetches its cookie (if the earlier dials have not); the next ones use it.
        for (let i = 0; i < 3; i++) assert.equal(await exitThroughForwarder(`${what}, dial ${i + 1}`, client!), proxy.ip, `${what} exit`);
        // Only the forwarder dials with Fast Open here (the health probes use Node's sockets).
        assert.ok((await readTcpExt(dp.lab.ns.wan, 'TCPFastOpenPassive')) - taken >= 2, `${what}: SYN data taken by the proxy's host`);
      }
    });
  });

  it('the first tunnel bytes that arrive with the 200 reach the client (a target that speaks first)', async () => {
    const { proxy, client } = seeded.find((s) => s.row.server.includes('one segment'))!;
    const script = `const s=require('net').connect({host:process.argv[1],port:+process.argv[2],localAddress:process.argv[3]});let b='';s.on('data',d=>b+=d);s.on('close',()=>{process.stdout.write(b)});setTimeout(()=>s.destroy(),4000)`;
    const out = await dp.lab.exec(dp.lab.ns.lan, ['node', '-e', script, dp.lab.description.internet.ip, String(BANNER_PORT), client!]);
    assert.equal(out.stdout.trim(), `hello ${proxy.ip}`);
  });
});
