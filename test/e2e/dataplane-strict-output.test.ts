// Strict OUTPUT mode (docs/SECURITY.md flows 2, 3 and 13): with the setting on, the gateway opens
// nothing on any interface but lo except the forwarder's (uid pgw) and the health checker's (uid
// pgw-health) TCP to the proxy endpoints, and only root's sockets answer connections from outside
// (another uid's listener cannot send data back). Real agent, forwarder and health service;
// connects from the gateway namespace as several uids, each from its own source port so tcpdump on
// eth0, ens19 and a third interface shows which left. Positive control: the same sends with the
// setting off are seen there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type AgentStatusRecord, agentStatusKey } from '@pgw/events';
import { Redis } from 'ioredis';
import { setprivArgv } from '../../lab/privileges.js';
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';

const CLIENT = '192.168.2.10';
const CLIENT_PORT = 20010;
const GATEWAY_SERVICE_PORT = 2222;
/** Another uid's listener on every gateway address: what it sends is data leaving the gateway. */
const LEAKY_SERVICE_PORT = 2223;
const UNMAPPED = '192.168.2.11';
/** A LAN host's listener (in the LAN namespace): where a local process of the gateway could send. */
const LAN_LISTENER_PORT = 7777;
/** A third interface with a network behind it: strict OUTPUT is not about eth0 alone. */
const THIRD_IFACE = 'mgmt0';
const THIRD_NET_HOST = '10.99.0.2';
const HEALTH_PERIOD_S = 5;
/**
 * A proxy name that the gateway's resolver points at the LAN host's listener (`ip netns exec`
 * bind-mounts /etc/netns/<ns>/hosts over /etc/hosts for every gateway process): strict OUTPUT must
 * not let the forwarder's uid reach a LAN host because a name says it is a proxy.
 */
const REBOUND_NAME = 'lan-listener.pgw.test';

/** One connect (TCP) or datagram (UDP) from the gateway namespace; prints its outcome. */
const CONNECTOR = `
const [proto, host, port, localPort] = process.argv.slice(1);
const done = (result) => { process.stdout.write(result); process.exit(0); };
if (proto === 'udp') {
  const s = require('node:dgram').createSocket('udp4');
  s.bind(Number(localPort), () => s.send(Buffer.from('pgw-strict-probe'), Number(port), host, (e) => done(e ? 'error:' + e.code : 'sent')));
} else {
  const s = require('node:net').connect({ host, port: Number(port), localPort: Number(localPort), timeout: 1500 });
  s.once('connect', () => { s.destroy(); done('connected'); });
  s.once('timeout', () => done('timeout'));
  s.once('error', (e) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'error:' + e.code));
}
`;

/** Sends data to whoever connects: run as nobody, it is what a local user would use to send data out. */
const LEAKY_LISTENER = `require('node:net').createServer((s) => { s.on('error', () => {}); s.end('leaked-by-nobody'); }).listen({ port: Number(process.argv[1]), host: '::', ipv6Only: false });`;
const LAN_LISTENER = `require('node:net').createServer((s) => s.destroy()).listen(Number(process.argv[2]), process.argv[1]); require('node:dgram').createSocket('udp4').bind(Number(process.argv[2]), process.argv[1]);`;

type Uid = 'root' | 'pgw' | 'pgw-api' | 'pgw-health' | 'nobody';

/** A user as a local process of the gateway runs it: no capabilities unless root. */
function asUser(uid: Uid): string[] {
  if (uid === 'root') return [];
  // Debian's nobody has group nogroup, not nobody.
  if (uid === 'nobody') return ['setpriv', '--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--inh-caps', '-all', '--bounding-set', '-all', '--'];
  return setprivArgv(uid);
}

let dp: Dataplane;
let proxy: { ip: string; port: number };
let internet: string;
let httpPort: number;
let gatewayWanIp: string;
let proxyId: number;
/**
 * Each attempt's own source port (its packets are told apart by it), above the kernel's ephemeral
 * range (32768-60999 by default): a port in it may be bound already by a connection of the services
 * under test, and the attempt's bind then fails (EADDRINUSE) with nothing sent.
 */
let nextLocalPort = 61000;
let hostsDir: string | undefined;

interface Attempt {
  uid: Uid;
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
  localPort: number;
  result: string;
}

async function attempt(uid: Uid, host: string, port: number, proto: 'tcp' | 'udp' = 'tcp'): Promise<Attempt> {
  const localPort = nextLocalPort++;
  const r = await dp.lab.exec(dp.gw, [...asUser(uid), 'node', '-e', CONNECTOR, proto, host, String(port), String(localPort)], { timeoutMs: 10_000 });
  return { uid, proto, host, port, localPort, result: r.stdout.trim() };
}

/** eth0 lines of packets the gateway sent from this attempt's source port. */
function sentBy(lines: readonly string[], a: Attempt): string[] {
  return lines.filter((l) => l.includes(` IP ${gatewayWanIp}.${a.localPort} > ${a.host}.${a.port}:`));
}

/** Lines of packets from this attempt's source port, whatever the interface's address. */
function sentFrom(lines: readonly string[], a: Attempt): string[] {
  return lines.filter((l) => l.includes(`.${a.localPort} > ${a.host}.${a.port}:`));
}

/** Captures eth0, ens19 and the third interface around a probe. */
async function onEveryInterface<T>(probe: () => Promise<T>) {
  const captures = await Promise.all(['eth0', 'ens19', THIRD_IFACE].map((iface) => dp.lab.capture({ ns: dp.gw, iface })));
  const result = await probe();
  await new Promise((resolve) => setTimeout(resolve, 300)); // late retransmissions
  const [eth0, ens19, third] = await Promise.all(captures.map((c) => c.stop()));
  return { result, lines: { eth0: eth0!, ens19: ens19!, [THIRD_IFACE]: third! } as Record<string, string[]> };
}

/** Sends of uids that are not the forwarder's or the health checker's, to a LAN host, a WAN host, a proxy endpoint and a host behind the third interface. */
async function otherUidsEverywhere(): Promise<Attempt[]> {
  const out: Attempt[] = [];
  for (const uid of ['nobody', 'pgw-api'] as const) {
    out.push(await attempt(uid, CLIENT, LAN_LISTENER_PORT));
    out.push(await attempt(uid, CLIENT, LAN_LISTENER_PORT, 'udp'));
    out.push(await attempt(uid, internet, httpPort));
    out.push(await attempt(uid, proxy.ip, proxy.port));
    out.push(await attempt(uid, THIRD_NET_HOST, httpPort));
    out.push(await attempt(uid, THIRD_NET_HOST, 53, 'udp'));
  }
  // Neither root nor the forwarder's uid opens anything towards the LAN or the third network.
  out.push(await attempt('root', CLIENT, LAN_LISTENER_PORT));
  out.push(await attempt('pgw', CLIENT, LAN_LISTENER_PORT));
  out.push(await attempt('pgw', THIRD_NET_HOST, httpPort));
  return out;
}

/** A WAN host connects to the other uid's listener on the gateway: what it receives (or timeout). */
async function wanReadsLeakyService(): Promise<string> {
  const script = `const s = require('node:net').connect(${LEAKY_SERVICE_PORT}, '${gatewayWanIp}'); let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => { process.stdout.write(got); process.exit(0); }); s.on('error', (e) => { process.stdout.write('error:' + e.code); process.exit(0); }); setTimeout(() => { process.stdout.write(got || 'timeout'); process.exit(0); }, 2000).unref();`;
  return (await dp.lab.exec(dp.lab.ns.wan, ['node', '-e', script], { timeoutMs: 10_000 })).stdout;
}

async function onWan<T>(probe: () => Promise<T>) {
  const capture = await dp.captureWan();
  const result = await probe();
  await new Promise((resolve) => setTimeout(resolve, 300)); // late retransmissions
  return { result, wan: await capture.stop() };
}

async function setStrictOutput(on: boolean): Promise<void> {
  // No notice: the agent's resync (every second) finds the changed setting by itself.
  await dp.tdb.db.updateTable('settings').set({ strictOutput: on }).where('id', '=', 1).execute();
  await dp.waitFor(`strict OUTPUT ${on ? 'in force' : 'off'}`, async () => ((await dp.nft('list', 'chain', 'inet', 'pgw', 'output')).exitCode === 0) === on);
}

async function exitIp(client: string): Promise<string | null> {
  const r = await dp.lab.httpGet({ ns: dp.lab.ns.lan, url: dp.lab.description.internet.echoUrl, sourceIp: client, timeoutMs: 5_000 });
  return r.ok && r.status === 200 ? (JSON.parse(r.body) as { ip: string }).ip : null;
}

describe('dataplane strict OUTPUT mode (flows 2, 3, 13)', { timeout: 240_000 }, () => {
  before(async () => {
    for (const service of ['forwarder', 'health']) execFileSync('npx', ['tsc', '-b', join(REPO, `services/${service}`)], { cwd: REPO, stdio: 'inherit', timeout: 180_000 });
    dp = await createDataplane({ clients: 2, proxies: ['socks5'] });
    proxy = dp.proxyEndpoints[0]!;
    internet = dp.lab.description.internet.ip;
    httpPort = dp.lab.description.internet.httpPort;
    gatewayWanIp = dp.lab.description.gateway.wanIp;
    await dp.loadGuard();
    await dp.tdb.db
      .updateTable('settings')
      .set({ strictOutput: true, healthIntervalS: HEALTH_PERIOD_S, probeTimeoutMs: 2_000, checkUrl: dp.lab.description.internet.echoUrl })
      .where('id', '=', 1)
      .execute();
    proxyId = await dp.addProxy(0, 'up');
    await dp.addMapping(CLIENT, proxyId, CLIENT_PORT);
    hostsDir = `/etc/netns/${dp.gw}`;
    mkdirSync(hostsDir, { recursive: true });
    writeFileSync(`${hostsDir}/hosts`, `127.0.0.1 localhost\n${CLIENT} ${REBOUND_NAME}\n`);
    // Straight into Postgres, as a name the api cannot judge: only the agent resolves it.
    await dp.tdb.db.insertInto('proxies').values({ name: 'rebound', protocol: 'socks5', host: REBOUND_NAME, port: LAN_LISTENER_PORT, status: 'up' }).execute();
    await dp.startGatewayService(GATEWAY_SERVICE_PORT);
    await dp.lab.spawn(dp.gw, [...asUser('nobody'), 'node', '-e', LEAKY_LISTENER, String(LEAKY_SERVICE_PORT)], { name: 'leaky-service' });
    await dp.lab.spawn(dp.lab.ns.lan, ['node', '-e', LAN_LISTENER, CLIENT, String(LAN_LISTENER_PORT)], { name: 'lan-listener' });
    // A veth pair inside the gateway namespace; the static neighbour lets packets to the host leave without ARP.
    await dp.lab.exec(dp.gw, ['sh', '-c', [
      `ip link add ${THIRD_IFACE} type veth peer name ${THIRD_IFACE}p`, `ip addr add 10.99.0.1/24 dev ${THIRD_IFACE}`, `ip link set ${THIRD_IFACE}p up`,
      `ip link set ${THIRD_IFACE} up`, `ip neigh add ${THIRD_NET_HOST} lladdr 02:00:00:00:99:02 dev ${THIRD_IFACE} nud permanent`,
    ].join(' && ')]);
    await dp.startAgent();
    await dp.waitFor('strict OUTPUT in force', async () => (await dp.setElements('strict_uids'))?.length === 2);
    await dp.gateway.start('forwarder');
    await dp.gateway.start('health');
  });

  after(async () => {
    await dp?.destroy();
    if (hostsDir !== undefined) {
      rmSync(hostsDir, { recursive: true, force: true });
      try {
        rmdirSync('/etc/netns'); // only if this test left it empty
      } catch {
        // not empty, or gone: someone else's
      }
    }
  });

  it('flow 13: the ruleset allows exactly uids pgw and pgw-health to exactly the proxy endpoints', async () => {
    const uid = (name: string) => execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim();
    assert.deepEqual(await dp.setElements('strict_uids'), [uid('pgw'), uid('pgw-health')].sort());
    assert.equal((await dp.setElements('upstreams'))?.length, 1);
    assert.match((await dp.nft('list', 'set', 'inet', 'pgw', 'upstreams')).stdout, new RegExp(`${proxy.ip.replaceAll('.', '\\.')} \\. ${proxy.port}`));
  });

  it('flow 13: a proxy name that resolves into the LAN opens no upstream there; the agent says why', async () => {
    // The agent's status record, as the console reads it (node name: this host's, the agent's default).
    const redis = new Redis(dp.lab.redis.adminUrl);
    let reason: string | undefined;
    try {
      await dp.waitFor('the agent names the rebound proxy', async () => {
        const raw = await redis.get(agentStatusKey(hostname()));
        reason = raw === null ? undefined : (JSON.parse(raw) as AgentStatusRecord).refusals?.find((r) => r.subject.includes(REBOUND_NAME))?.reason;
        return reason !== undefined;
      });
    } finally {
      redis.disconnect();
    }
    assert.match(reason!, new RegExp(`resolves to ${CLIENT.replaceAll('.', '\\.')}: .*LAN`));
    assert.ok(!(await dp.setElements('upstreams'))!.some((e) => e.startsWith(`${CLIENT} `)), 'no LAN address in the upstreams');
    const { result, lines } = await onEveryInterface(() => attempt('pgw', CLIENT, LAN_LISTENER_PORT));
    assert.equal(result.result, 'refused');
    assert.deepEqual(sentFrom(lines.ens19!, result), []);
  });

  it('flows 1, 2, 13: a mapped client exits through the real forwarder (uid pgw) and its proxy; eth0 carries only proxy traffic', async () => {
    const { result, wan } = await onWan(() => exitIp(CLIENT));
    assert.equal(result, proxy.ip);
    assert.deepEqual(wan.fromClients, []);
    assert.deepEqual(wan.toOtherHosts, []);
    assert.ok(wan.all.some((l) => l.includes(` > ${proxy.ip}.${proxy.port}:`)), 'the relay to the proxy is seen on eth0');
  });

  it('flows 2, 13: a direct connect as uid pgw reaches the proxy endpoint; the same connect as root, pgw-api or nobody is refused locally at once (a reset via lo) and never leaves', async () => {
    const { result, wan } = await onWan(async () => {
      const out: Attempt[] = [];
      for (const uid of ['pgw', 'root', 'pgw-api', 'nobody'] as const) out.push(await attempt(uid, proxy.ip, proxy.port));
      return out;
    });
    const [pgw, ...others] = result;
    assert.equal(pgw!.result, 'connected');
    assert.ok(sentBy(wan.all, pgw!).length > 0, 'the allowed connect is seen on eth0');
    for (const a of others) {
      assert.equal(a.result, 'refused', `${a.uid} -> proxy`);
      assert.deepEqual(sentBy(wan.all, a), [], `${a.uid}'s packets on eth0`);
    }
    assert.deepEqual(wan.toOtherHosts, []);
  });

  it('flow 13: uid pgw (or root) to a WAN host that is no proxy endpoint is refused at once, UDP/53 gets EPERM; nothing but proxy traffic crosses eth0', async () => {
    const { result, wan } = await onWan(async () => [
      await attempt('pgw', internet, httpPort),
      await attempt('root', internet, httpPort),
      // The proxy's address on another port is no endpoint either.
      await attempt('pgw', proxy.ip, httpPort),
      await attempt('root', internet, 53, 'udp'),
    ]);
    for (const a of result) {
      assert.equal(a.result, a.proto === 'tcp' ? 'refused' : 'error:EPERM', `${a.uid} ${a.proto} -> ${a.host}:${a.port}`);
      assert.deepEqual(sentBy(wan.all, a), []);
    }
    assert.deepEqual(wan.toOtherHosts, []);
    assert.deepEqual(wan.fromClients, []);
  });

  it('flows 2, 13: the health service (uid pgw-health) still probes the proxy through it and records it up', async () => {
    const last = await dp.tdb.db.selectFrom('proxyChecks').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
    const since = String(last?.id ?? '0');
    const checks = () => dp.tdb.db.selectFrom('proxyChecks').selectAll().where('proxyId', '=', proxyId).where('id', '>', since).orderBy('id').execute();
    await dp.waitFor('a probe after strict OUTPUT was in force', async () => (await checks()).length > 0, (HEALTH_PERIOD_S + 5) * 1000);
    const [check] = await checks();
    assert.equal(check!.ok, true, `probe failed: ${check!.error}`);
    assert.equal(check!.exitIp, proxy.ip);
    const row = await dp.tdb.db.selectFrom('proxies').select('status').where('id', '=', proxyId).executeTakeFirstOrThrow();
    assert.equal(row.status, 'up');
  });

  it('flow 13: a connection opened to the gateway from the WAN (the operator’s SSH) still gets its replies', async () => {
    const r = await dp.lab.exec(dp.lab.ns.wan, ['node', '-e', `const s = require('node:net').connect(${GATEWAY_SERVICE_PORT}, '${gatewayWanIp}'); let got = ''; s.on('data', (d) => (got += d)); s.on('end', () => process.stdout.write(got)); s.on('error', (e) => process.stdout.write('error:' + e.code)); setTimeout(() => { process.stdout.write('timeout'); process.exit(0); }, 2000).unref();`], { timeoutMs: 10_000 });
    assert.equal(r.stdout, 'gateway-service');
  });

  it('flow 13: other uids send nothing on any interface but lo: not to a LAN host, a WAN host, a proxy endpoint or a third network (TCP refused locally, UDP EPERM)', async () => {
    const { result, lines } = await onEveryInterface(otherUidsEverywhere);
    for (const a of result) {
      assert.equal(a.result, a.proto === 'tcp' ? 'refused' : 'error:EPERM', `${a.uid} ${a.proto} -> ${a.host}:${a.port}`);
      for (const [iface, seen] of Object.entries(lines)) assert.deepEqual(sentFrom(seen, a), [], `${a.uid} ${a.proto} -> ${a.host}:${a.port} on ${iface}`);
    }
  });

  it('flow 13: a listener of another uid that a WAN host connects to cannot send data back (the reply exception is root’s only)', async () => {
    const { result, wan } = await onWan(wanReadsLeakyService);
    assert.equal(result, 'timeout');
    assert.deepEqual(wan.all.filter((l) => l.includes(` IP ${gatewayWanIp}.${LEAKY_SERVICE_PORT} > `)), [], 'no answer of the listener on eth0');
  });

  it('flows 5, 6, 13: LAN clients still get their TCP resets from the gateway’s reject rules (kernel answers pass)', async () => {
    const r = await dp.prober.tcp(UNMAPPED, internet, httpPort, 1500);
    assert.equal(r.result, 'refused');
  });

  it('positive control (flow 3): with strict OUTPUT off, the same denied connects leave through eth0', async () => {
    await setStrictOutput(false);
    try {
      const { result, wan } = await onWan(async () => [
        await attempt('root', internet, httpPort),
        await attempt('nobody', proxy.ip, proxy.port),
        await attempt('pgw', internet, httpPort),
        await attempt('root', internet, 53, 'udp'),
      ]);
      const [rootToInternet, nobodyToProxy, pgwToInternet, dns] = result;
      assert.equal(rootToInternet!.result, 'connected');
      assert.equal(nobodyToProxy!.result, 'connected');
      assert.equal(pgwToInternet!.result, 'connected');
      assert.equal(dns!.result, 'sent');
      for (const a of result) assert.ok(sentBy(wan.all, a).length > 0, `${a.uid} ${a.proto} -> ${a.host}:${a.port} (${a.result}) seen on eth0`);
      assert.ok(wan.toOtherHosts.length > 0);

      const everywhere = await onEveryInterface(otherUidsEverywhere);
      const ifaceOf = (host: string) => (host === CLIENT ? 'ens19' : host === THIRD_NET_HOST ? THIRD_IFACE : 'eth0');
      for (const a of everywhere.result) {
        if (a.proto === 'udp') assert.equal(a.result, 'sent', `${a.uid} udp -> ${a.host}:${a.port}`);
        assert.ok(sentFrom(everywhere.lines[ifaceOf(a.host)]!, a).length > 0, `${a.uid} ${a.proto} -> ${a.host}:${a.port} (${a.result}, from port ${a.localPort}) seen on ${ifaceOf(a.host)}; ${ifaceOf(a.host)} saw ${everywhere.lines[ifaceOf(a.host)]!.length} packets`);
      }
      assert.equal(await wanReadsLeakyService(), 'leaked-by-nobody');
    } finally {
      await setStrictOutput(true);
    }
    // And back on: denied again.
    assert.equal((await attempt('root', internet, httpPort)).result, 'refused');
  });
});
