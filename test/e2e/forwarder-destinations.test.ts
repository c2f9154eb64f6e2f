// The forwarder's destination policy in the lab (docs/SECURITY.md, Destinations): an effective client's
// TCP to the gateway's own addresses, the LAN prefix, link-local (169.254.169.254) or a private
// range is DNAT-ed into the forwarder like any other; the forwarder must refuse it before the proxy
// hears of it. Proven with tcpdump on eth0 (no packet to the proxy), a service on the gateway that
// the proxy could reach (it gets no connection), and the refusal counters (metrics and status).
// A proxy row at a forbidden address (written straight into Postgres, past the api's check) is
// refused by the forwarder's dialer too.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { connectRedis, forwarderStatusKey } from '@pgw/events';
import { DEFAULT_NODE } from '../support/node-status.js';
import { createLab, echoServerArgv, type Lab, type LabProcess, type ProxyHandle, waitTcpPort } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT } from '../support/gateway.js';
import { waitFor } from '../../lab/wait.js';
import { scrapeMetrics } from '../bench/forwarder/gateway-probes.js';
import { metricSum } from '../support/prometheus-text.js';
import { LanClient } from '../bench/forwarder/lan-client-handle.js';

const METRICS_PORT = 9102;
/** A service on the gateway, on every address: what a LAN client must not reach through the relay. */
const SERVICE_PORT = 8099;
const PRIVATE_HOST = '10.99.0.10';
const ECHO = { http: 8080, tcp: 7 };
/** Wider than the clients' /24, so that a LAN address off their link is routed through the gateway. */
const LAN_CIDR = '192.168.0.0/16';
const OFF_LINK_LAN_HOST = '192.168.5.5';

const CLIENTS = { plain: '192.168.2.10', allowsPrivate: '192.168.2.11', lanProxy: '192.168.2.12', localhostProxy: '192.168.2.13', gatewayProxy: '192.168.2.14' } as const;

const SERVICE_SCRIPT = `require('node:net').createServer((s) => { console.log('connection from ' + s.remoteAddress); s.on('error', () => {}); s.end(); }).listen({ port: Number(process.argv[1]), host: '::', ipv6Only: false });`;

let lab: Lab;
let tdb: TestDatabase;
let gateway: Gateway;
let lan: LanClient;
let gw: string;
let dante: ProxyHandle;
let service: LabProcess;
let internet: { ip: string; tcpEchoPort: number };

const refused = async (reason: string) => metricSum(await scrapeMetrics(gw, METRICS_PORT), 'pgw_forwarder_refused_total', { reason });
const serviceConnections = () => readFileSync(service.logFile, 'utf8').split('\n').filter((l) => l.startsWith('connection from'));
const echo = (src: string, host: string, port: number) => lan.run({ op: 'echo', src, host, port, bytes: 64, timeoutMs: 3_000 });

/** Written as the api would; the forwarder's periodic resync (2 s) picks it up without a notice. */
async function setPrivateDestinations(value: 'deny' | 'allow'): Promise<void> {
  await tdb.db.updateTable('settings').set({ privateDestinations: value }).where('id', '=', 1).execute();
}

describe('forwarder destination policy (lab, real agent ruleset, dante)', { timeout: 300_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 240_000 });
    lab = await createLab({ clients: 5, proxies: ['socks5'] });
    gw = lab.ns.gateway;
    dante = lab.proxies[0]!;
    internet = lab.description.internet;
    // A private host behind the proxy, so that "allowed" is shown by a real relay, not by absence of a refusal.
    await lab.exec(lab.ns.wan, ['ip', 'addr', 'add', `${PRIVATE_HOST}/32`, 'dev', 'lo']);
    await lab.spawn(lab.ns.wan, echoServerArgv(PRIVATE_HOST, ECHO.http, ECHO.tcp), { name: 'private-echo' });
    await waitTcpPort(lab.ns.wan, PRIVATE_HOST, ECHO.tcp);
    service = await lab.spawn(gw, ['node', '-e', SERVICE_SCRIPT, String(SERVICE_PORT)], { name: 'gateway-service' });
    await waitTcpPort(gw, '127.0.0.1', SERVICE_PORT);

    tdb = await createTestDatabase({ prefix: 'pgw_dst' });
    // Without warm connections: a refused destination is proven by no packet to the proxy, and the
    // pool opens and ages out connections to it on its own (test/e2e/forwarder-warm-pool.test.ts).
    gateway = new Gateway(lab, tdb, { env: { forwarder: { PGW_CONNECT_TIMEOUT_MS: '1000', PGW_FORWARDER_WARM_POOL: 'false' } } });
    await tdb.db.updateTable('settings').set({ lanCidr: LAN_CIDR }).where('id', '=', 1).execute();
    const danteId = await gateway.seedProxy(dante, { status: 'up' });
    // Rows the api would refuse, as a compromised api or a hand edit could leave them.
    const insertProxy = async (name: string, protocol: 'socks5' | 'http', host: string) =>
      (await tdb.db.insertInto('proxies').values({ name, protocol, host, port: SERVICE_PORT, status: 'up' }).returning('id').executeTakeFirstOrThrow()).id;
    const lanProxyId = await insertProxy('on-the-lan', 'socks5', '192.168.2.1');
    const localhostProxyId = await insertProxy('on-localhost', 'http', 'localhost');
    // The gateway's own WAN address: outside the LAN and not loopback, yet the gateway itself.
    const gatewayProxyId = await insertProxy('on-the-gateway', 'http', lab.description.gateway.wanIp);
    await gateway.seedMapping(CLIENTS.plain, danteId, 20010);
    const allowsPrivate = await gateway.seedMapping(CLIENTS.allowsPrivate, danteId, 20011);
    await tdb.db.updateTable('mappings').set({ privateDestinations: 'allow' }).where('id', '=', allowsPrivate).execute();
    await gateway.seedMapping(CLIENTS.lanProxy, lanProxyId, 20012);
    await gateway.seedMapping(CLIENTS.localhostProxy, localhostProxyId, 20013);
    await gateway.seedMapping(CLIENTS.gatewayProxy, gatewayProxyId, 20014);
    await gateway.start('agent');
    await gateway.start('forwarder');
    lan = new LanClient(lab.ns.lan);
    await lan.ready;
    await waitFor('the plain client to be relayed', 15_000, async () => (await echo(CLIENTS.plain, internet.ip, internet.tcpEchoPort).then(() => true, () => false)));
  });

  after(async () => {
    lan?.close();
    await gateway?.destroy();
    await lab?.destroy();
    await tdb?.drop();
  });

  it('positive control: the gateway service is reachable from the proxy\'s side, so only the forwarder can stop the relay', async () => {
    const before = serviceConnections().length;
    await lab.exec(lab.ns.wan, ['bash', '-c', `exec 3<>/dev/tcp/${lab.description.gateway.wanIp}/${SERVICE_PORT}`]);
    await waitFor('the gateway service to log the direct connection', 5_000, async () => serviceConnections().length === before + 1);
  });

  it("refuses the gateway's own addresses, an off-link LAN host, 169.254.169.254 and a private host: reset, no packet to the proxy, counted", async () => {
    const targets: [string, number, string][] = [
      [lab.description.gateway.lanIp, SERVICE_PORT, 'destination_gateway'],
      [lab.description.gateway.wanIp, SERVICE_PORT, 'destination_gateway'],
      [OFF_LINK_LAN_HOST, SERVICE_PORT, 'destination_lan'],
      ['169.254.169.254', 80, 'destination_link_local'],
      [PRIVATE_HOST, ECHO.tcp, 'destination_private'],
    ];
    const reasons = [...new Set(targets.map(([, , reason]) => reason))];
    const countsBefore = await Promise.all(reasons.map(refused));
    const connectionsBefore = serviceConnections().length;
    const capture = await lab.capture({ ns: gw, iface: 'eth0', filter: `tcp and host ${dante.ip} and port ${dante.port}` });
    for (const [host, port] of targets) {
      await assert.rejects(echo(CLIENTS.plain, host, port), /ECONNRESET/, `${host}:${port} is refused with a reset`);
    }
    const toProxy = await capture.stop();
    assert.deepEqual(toProxy, [], 'no packet to the proxy for a refused destination');
    assert.equal(serviceConnections().length, connectionsBefore, 'the gateway service got no connection');
    const countsAfter = await Promise.all(reasons.map(refused));
    const expected = reasons.map((reason, i) => countsBefore[i]! + targets.filter(([, , r]) => r === reason).length);
    assert.deepEqual(countsAfter, expected, `refusals by reason (${reasons.join(', ')})`);

    // Same capture filter, an allowed destination: the proxy is asked (the capture above could see it).
    const control = await lab.capture({ ns: gw, iface: 'eth0', filter: `tcp and host ${dante.ip} and port ${dante.port}` });
    await echo(CLIENTS.plain, internet.ip, internet.tcpEchoPort);
    assert.ok((await control.stop()).length > 0, 'positive control: a relayed connection is seen going to the proxy');
  });

  it('private ranges: a mapping override allows them; the global setting allows them for everyone else; gateway and LAN stay refused', async () => {
    await echo(CLIENTS.allowsPrivate, PRIVATE_HOST, ECHO.tcp);
    await assert.rejects(echo(CLIENTS.plain, PRIVATE_HOST, ECHO.tcp), /ECONNRESET/);
    await setPrivateDestinations('allow');
    try {
      await waitFor('the plain client to reach the private host', 10_000, async () => echo(CLIENTS.plain, PRIVATE_HOST, ECHO.tcp).then(() => true, () => false));
      await assert.rejects(echo(CLIENTS.plain, lab.description.gateway.wanIp, SERVICE_PORT), /ECONNRESET/);
      await assert.rejects(echo(CLIENTS.plain, OFF_LINK_LAN_HOST, SERVICE_PORT), /ECONNRESET/);
    } finally {
      await setPrivateDestinations('deny');
    }
    await waitFor('private destinations to be refused again', 10_000, async () => echo(CLIENTS.plain, PRIVATE_HOST, ECHO.tcp).then(() => false, () => true));
  });

  it('a live connection to a private host ends when private ranges become refused: the mapping\'s own choice, then the global setting', async () => {
    const privateEcho = { host: PRIVATE_HOST, port: ECHO.tcp };
    const publicEcho = { host: internet.ip, port: internet.tcpEchoPort };
    const allowsPrivate = (await tdb.db.selectFrom('mappings').select('id').where('clientIp', '=', CLIENTS.allowsPrivate).executeTakeFirstOrThrow()).id;
      const before = await refused('destination_private');
    // The mapping's override: allow -> deny.
    await lan.run({ op: 'hold', key: 'private-by-override', src: CLIENTS.allowsPrivate, ...privateEcho });
    await lan.run({ op: 'hold', key: 'public-bystander', src: CLIENTS.allowsPrivate, ...publicEcho });
    try {
      await tdb.db.updateTable('mappings').set({ privateDestinations: 'deny' }).where('id', '=', allowsPrivate).execute();
      let started = Date.now();
      await gateway.publish({ type: 'mapping.changed', mappingId: allowsPrivate, action: 'updated' });
      let closed = await lan.closed('private-by-override', 5_000);
      console.log(`# private destinations denied for the mapping: live connection ended (${closed.how}) ${Date.now() - started} ms after the notice`);
      assert.equal(closed.how, 'reset');
      await lan.run({ op: 'ping', key: 'public-bystander' });
      assert.equal(await refused('destination_private'), before + 1, 'the ended connection is counted as a refusal');

      // The global setting: allow (a connection made under it) -> deny.
      await setPrivateDestinations('allow');
      await waitFor('the plain client to reach the private host', 10_000, async () => echo(CLIENTS.plain, PRIVATE_HOST, ECHO.tcp).then(() => true, () => false));
      await lan.run({ op: 'hold', key: 'private-by-setting', src: CLIENTS.plain, ...privateEcho });
      const beforeSetting = await refused('destination_private');
      await setPrivateDestinations('deny');
      started = Date.now();
      await gateway.publish({ type: 'config.changed' });
      closed = await lan.closed('private-by-setting', 5_000);
      console.log(`# private destinations denied by the setting: live connection ended (${closed.how}) ${Date.now() - started} ms after the notice`);
      assert.equal(closed.how, 'reset');
      await lan.run({ op: 'ping', key: 'public-bystander' });
      assert.equal(await refused('destination_private'), beforeSetting + 1);
    } finally {
      await lan.run({ op: 'release', keys: ['private-by-override', 'public-bystander', 'private-by-setting'] });
      await setPrivateDestinations('deny');
      await tdb.db.updateTable('mappings').set({ privateDestinations: 'allow' }).where('id', '=', allowsPrivate).execute();
      await gateway.publish({ type: 'mapping.changed', mappingId: allowsPrivate, action: 'updated' });
    }
  });

  it('a settings row the schema refuses (written past the api) does not freeze the forwarder: a mapping\'s change still applies', async () => {
    const privateEcho = { host: PRIVATE_HOST, port: ECHO.tcp };
    const allowsPrivateId = (await tdb.db.selectFrom('mappings').select('id').where('clientIp', '=', CLIENTS.allowsPrivate).executeTakeFirstOrThrow()).id;
    const { lanInterface } = await tdb.db.selectFrom('settings').select('lanInterface').where('id', '=', 1).executeTakeFirstOrThrow();
    // The test before ends by allowing private ranges again for this mapping, without waiting for it.
    await waitFor('the mapping to reach the private host', 10_000, async () => echo(CLIENTS.allowsPrivate, PRIVATE_HOST, ECHO.tcp).then(() => true, () => false));
    await lan.run({ op: 'hold', key: 'private-under-bad-row', src: CLIENTS.allowsPrivate, ...privateEcho });
    try {
      await sql`UPDATE settings SET lan_interface = 'lo' WHERE id = 1`.execute(tdb.db);
      await gateway.publish({ type: 'config.changed' });
      await tdb.db.updateTable('mappings').set({ privateDestinations: 'deny' }).where('id', '=', allowsPrivateId).execute();
      await gateway.publish({ type: 'mapping.changed', mappingId: allowsPrivateId, action: 'updated' });
      const closed = await lan.closed('private-under-bad-row', 5_000);
      assert.equal(closed.how, 'reset', 'the mapping\'s new choice applied to its live connection');
    } finally {
      await lan.run({ op: 'release', keys: ['private-under-bad-row'] });
      await sql`UPDATE settings SET lan_interface = ${lanInterface} WHERE id = 1`.execute(tdb.db);
      await tdb.db.updateTable('mappings').set({ privateDestinations: 'allow' }).where('id', '=', allowsPrivateId).execute();
      await gateway.publish({ type: 'mapping.changed', mappingId: allowsPrivateId, action: 'updated' });
    }
    await waitFor('the mapping to reach the private host again', 10_000, async () => echo(CLIENTS.allowsPrivate, PRIVATE_HOST, ECHO.tcp).then(() => true, () => false));
  });

  it("a proxy row on the LAN, at localhost or at the gateway's WAN address is never dialed: the client is reset, the gateway service sees nothing", async () => {
    const before = { lan: await refused('proxy_lan'), loopback: await refused('proxy_loopback'), gateway: await refused('proxy_gateway'), connections: serviceConnections().length };
    await assert.rejects(echo(CLIENTS.lanProxy, internet.ip, internet.tcpEchoPort), /ECONNRESET/);
    await assert.rejects(echo(CLIENTS.localhostProxy, internet.ip, internet.tcpEchoPort), /ECONNRESET/);
    await assert.rejects(echo(CLIENTS.gatewayProxy, internet.ip, internet.tcpEchoPort), /ECONNRESET/);
    assert.equal(await refused('proxy_lan'), before.lan + 1);
    assert.equal(await refused('proxy_loopback'), before.loopback + 1);
    assert.equal(await refused('proxy_gateway'), before.gateway + 1);
    assert.equal(serviceConnections().length, before.connections, 'no dial reached the gateway service');
  });

  it('the refusal counts reach the status record the api shows', async () => {
    const redis = connectRedis(lab.redis.url('api')); // what the api reads
    try {
      const status = await waitFor('the forwarder status to carry the refusals', 10_000, async () => {
        const parsed = JSON.parse((await redis.get(forwarderStatusKey(DEFAULT_NODE))) ?? '{}') as { refused?: Record<string, number> };
        return (parsed.refused?.destination_gateway ?? 0) >= 2 && (parsed.refused?.proxy_loopback ?? 0) >= 1 ? parsed : undefined;
      });
      assert.ok((status.refused!.destination_link_local ?? 0) >= 1, JSON.stringify(status.refused));
    } finally {
      redis.disconnect();
    }
  });
});
