// The leak battery (docs/SECURITY.md flows) and the kill switch in TPROXY mode (issue 15): real
// nftables, the real agent and guard in a lab, strict OUTPUT on. route_localnet is read after
// every step: in this mode it is never switched on. The positive controls of the DNAT file
// (dataplane-leak.test.ts) show the capture sees these probes when nothing enforces; here each
// refusal is also checked against a client that does connect, through the same rules.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, afterEach, before, describe, it } from 'node:test';
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';
import { assertNoLeak, assertRefusedAtOnce, GATEWAY_SERVICE_PORT, type LeakProbes, leakProbes, LOOPBACK_SERVICE_PORT } from './leak-probes.js';

const EFFECTIVE = '192.168.2.10';
const BLOCKED = '192.168.2.11'; // proxy down
const UNMAPPED = '192.168.2.12';
const DISABLED = '192.168.2.13'; // mapping disabled
const PORTS = { [EFFECTIVE]: 20010, [BLOCKED]: 20011, [DISABLED]: 20013 } as const;
const MARK = '0x02000000';
let dp: Dataplane;
let probes: LeakProbes;
let upProxy: number;
const onWan = <T>(probe: () => Promise<T>) => probes.onWan(probe);
const routeLocalnet = async () => (await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim();

describe('TPROXY mode: leak battery, kill switch, strict OUTPUT (issue 15)', { timeout: 180_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 4, proxies: ['socks5'] });
    execFileSync('npx', ['tsc', '-b', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
    probes = leakProbes(dp);
    await dp.loadGuard();
    await dp.tdb.db.updateTable('settings').set({ interceptMode: 'tproxy', strictOutput: true }).where('id', '=', 1).execute();
    upProxy = await dp.addProxy(0, 'up');
    const down = await dp.addProxy(0, 'down');
    await dp.addMapping(EFFECTIVE, upProxy, PORTS[EFFECTIVE]);
    await dp.addMapping(BLOCKED, down, PORTS[BLOCKED]);
    await dp.addMapping(DISABLED, upProxy, PORTS[DISABLED], false);
    // The mapped ports' listening sockets are the agent's own (transparent): no forwarder needed
    // for a handshake to complete, so a wrongly placed blocked client would connect.
    await dp.lab.spawn(dp.gw, ['node', '-e', `require('node:net').createServer((s) => s.end()).listen(${LOOPBACK_SERVICE_PORT}, '127.0.0.1')`], { name: 'loopback-service' });
    await dp.startGatewayService(GATEWAY_SERVICE_PORT);
    await probes.routeLoopbackToGateway();
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mappings', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
  });

  afterEach(async () => {
    if (dp) assert.equal(await routeLocalnet(), '0', 'route_localnet stays 0 in TPROXY mode');
  });

  after(async () => {
    await dp?.destroy();
  });

  it('the agent renders tproxy, not DNAT, and puts the policy routing in place (fwmark rule, local table) in the gateway namespace', async () => {
    const table = (await dp.nft('list', 'table', 'inet', 'pgw')).stdout;
    assert.match(table, /chain lan_tproxy/);
    assert.doesNotMatch(table, /chain lan_dnat|\bdnat ip to\b/);
    // Asserted with the LAN sysctls right after the first apply (until then a tproxied packet is not delivered: dropped).
    const rule = /^99:\s+from all fwmark 0x2000000\/0x2000000 iif ens19 lookup 243 proto 243/m;
    await dp.waitFor('the fwmark rule', async () => rule.test((await dp.lab.exec(dp.gw, ['ip', 'rule', 'show'])).stdout), 5_000);
    assert.match((await dp.lab.exec(dp.gw, ['ip', 'route', 'show', 'table', '243'])).stdout, /^local default dev lo proto 243/m);
    const sockets = (await dp.lab.exec(dp.gw, ['ss', '-Hltn', 'sport', '=', `:${PORTS[EFFECTIVE]}`])).stdout;
    assert.match(sockets, new RegExp(`127\\.0\\.0\\.1:${PORTS[EFFECTIVE]}\\s`), 'the agent listens on 127.0.0.1:<port>');
  });

  it('flow 1: an effective client’s TCP lands on its own port with its destination unchanged (no NAT); nothing crosses eth0', async () => {
    const { result, wan } = await onWan(() => probes.tcpToInternet(EFFECTIVE));
    assert.equal(result.result, 'connected');
    assertNoLeak(wan);
    const conntrack = (await dp.lab.exec(dp.gw, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp', '--dport', String(probes.httpPort)], { reject: false })).stdout;
    assert.match(conntrack, new RegExp(`dst=${probes.internet} sport=\\d+ dport=${probes.httpPort} .*src=${probes.internet} dst=${EFFECTIVE} sport=${probes.httpPort} `), 'the reply tuple is the original destination: not NAT-ed');
    assert.match(conntrack, new RegExp(`mark=${Number(MARK)}\\b`), 'the flow carries the TPROXY mark (strict OUTPUT lets its replies out by it)');
  });

  it('flows 4, 5, 6: blocked (proxy down, mapping disabled) and unmapped clients are refused at once; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(() => probes.tcpToInternetTimed([BLOCKED, DISABLED, UNMAPPED]));
    assertRefusedAtOnce(result);
    assertNoLeak(wan);
  });

  it('flow 7: UDP/53 (to the WAN and to the gateway), QUIC (UDP/443), the UDP echo and ICMP from every client get nothing; nothing crosses eth0', async () => {
    const udpEcho = dp.lab.description.internet.udpEchoPort;
    const { result, wan } = await onWan(async () => {
      const out = [];
      for (const src of dp.lab.clients) {
        const udp = [await dp.prober.udp(src, probes.internet, 443), await dp.prober.udp(src, probes.internet, udpEcho)];
        out.push({ dns: await probes.udpDns(src), udp, ping: await probes.ping(src) });
      }
      return out;
    });
    for (const r of result) {
      assert.deepEqual(r.dns.map((d) => d.result), ['none', 'none']);
      assert.deepEqual(r.udp.map((d) => d.result), ['none', 'none'], 'QUIC never out directly; UDP not relayed yet');
      assert.equal(r.ping.exitCode, 1, r.ping.stderr);
    }
    assertNoLeak(wan);
  });

  it('flows 8, 9, 10: no loopback service, no gateway service, no IPv6; an effective client only ever reaches its own port', async () => {
    for (const src of [EFFECTIVE, UNMAPPED]) assert.equal((await probes.loopbackService(src)).result, 'timeout');
    assert.equal((await dp.prober.tcp(UNMAPPED, '127.0.0.1', PORTS[EFFECTIVE])).result, 'timeout');
    assert.equal((await probes.gatewayService(UNMAPPED)).result, 'refused');
    assert.equal((await probes.gatewayService(BLOCKED)).result, 'refused');
    // Placed on its own port like any other destination (the forwarder refuses the gateway as a destination).
    assert.equal((await probes.gatewayService(EFFECTIVE)).result, 'connected');
    const placed = (await dp.lab.exec(dp.gw, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp', '--dport', String(GATEWAY_SERVICE_PORT)], { reject: false })).stdout;
    assert.match(placed, new RegExp(`mark=${Number(MARK)}\\b`), 'placed by the tproxy rule, not delivered to the service');
    assert.equal((await probes.ipv6ToGateway()).result, 'timeout');
  });

  it('strict OUTPUT: the client’s handshake gets out by the flow’s mark; a local user reaches no WAN host; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(async () => ({
      client: await probes.tcpToInternet(EFFECTIVE),
      local: await dp.lab.exec(dp.gw, ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', 'node', '-e',
        `const s=require('node:net').connect(${probes.httpPort},'${probes.internet}');s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)});setTimeout(()=>{console.log('timeout');process.exit(0)},1500)`], { reject: false }),
    }));
    assert.equal(result.client.result, 'connected');
    assert.notEqual(result.local.stdout.trim(), 'connected', result.local.stderr);
    assertNoLeak(wan);
  });

  it('flow 18, kill switch: a proxy-down notice blocks its client in under 1 s, an up notice unblocks it', async () => {
    const refused = dp.prober.until(EFFECTIVE, probes.internet, probes.httpPort, 'refused', 3_000);
    const started = Date.now();
    await dp.setProxyStatus(upProxy, 'down');
    const blocked = await refused;
    assert.equal(blocked.gaveUp, undefined, 'still connecting after 3 s');
    const ms = blocked.at - started;
    console.log(`# TPROXY mode: proxy down notice -> client refused in ${ms} ms (load ${(await import('node:fs')).readFileSync('/proc/loadavg', 'utf8').trim()})`);
    assert.ok(ms < 1_000, `blocked after ${ms} ms`);
    const connected = dp.prober.until(EFFECTIVE, probes.internet, probes.httpPort, 'connected', 3_000);
    await dp.setProxyStatus(upProxy, 'up');
    assert.equal((await connected).gaveUp, undefined, 'unblocked within 3 s');
  });

  it('flow 14: with the agent killed the rules stay in force; its sockets are gone, so the client is reset, never routed; nothing crosses eth0', async () => {
    await dp.killAgent();
    const { result, wan } = await onWan(async () => Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))));
    assert.deepEqual(result.map((r) => r.result), ['refused', 'refused', 'refused', 'refused']);
    assertNoLeak(wan);
    await dp.startAgent();
    await dp.waitFor('the client placed again', async () => (await dp.prober.tcp(EFFECTIVE, probes.internet, probes.httpPort)).result === 'connected');
  });

  it('flow 15: with inet pgw deleted and the agent stopped, the guard alone forwards nothing (the fwmark rule matches no packet)', async () => {
    await dp.killAgent();
    assert.equal((await dp.nft('delete', 'table', 'inet', 'pgw')).exitCode, 0);
    const { result, wan } = await onWan(async () => ({
      tcp: await Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))),
      loopback: await probes.loopbackService(UNMAPPED),
    }));
    for (const r of result.tcp) assert.notEqual(r.result, 'connected');
    assert.equal(result.loopback.result, 'timeout');
    assertNoLeak(wan);
    await dp.startAgent();
    await dp.waitFor('inet pgw restored', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
  });

  it('TCP exits via its proxy: with the forwarder (no capability) on the agent’s transparent sockets, the echo server sees the proxy; nothing else crosses eth0', async () => {
    await dp.gateway.start('forwarder');
    const proxy = dp.lab.proxies[0]!;
    const { result, wan } = await onWan(async () => {
      let last = await dp.lab.httpGet({ ns: dp.lab.ns.lan, url: dp.lab.description.internet.echoUrl, sourceIp: EFFECTIVE, timeoutMs: 3000 });
      // The forwarder asks the agent for its sockets once it has started: a few tries at most.
      for (let i = 0; i < 20 && !last.ok; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        last = await dp.lab.httpGet({ ns: dp.lab.ns.lan, url: dp.lab.description.internet.echoUrl, sourceIp: EFFECTIVE, timeoutMs: 3000 });
      }
      return last;
    });
    assert.ok(result.ok, `${JSON.stringify(result)}\n${await logTails()}`);
    assert.deepEqual(JSON.parse(result.body), { ip: proxy.ip });
    assertNoLeak(wan);
    assert.ok(wan.all.some((l) => l.includes(`${proxy.ip}.${proxy.port}`)), 'the relay went to the proxy');
  });

  it('DNS over TCP/53 is resolved through the client’s proxy: whoami.pgw.test answers the proxy’s exit address; no DNS packet leaves eth0 outside the proxy connection', async () => {
    const dns = dp.lab.description.dns;
    const { result, wan } = await onWan(() => dp.lab.exec(dp.lab.ns.lan, ['node', '-e', TCP_DNS_QUERY, EFFECTIVE, dns.ip, String(dns.port)], { reject: false }));
    assert.equal(result.stdout.trim(), dp.lab.proxies[0]!.ip, result.stderr);
    assertNoLeak(wan);
    assert.deepEqual(wan.all.filter((l) => l.includes(`${dns.ip}.`)), [], 'no packet to or from the DNS server on eth0: only the proxy connection');
  });
  it('flow 15: another tool’s `nft flush ruleset` with the forwarder running — the agent restores inet pgw (tproxy rules included) within about 2 s, and the client exits through its proxy again', async () => {
    const started = Date.now();
    assert.equal((await dp.nft('flush', 'ruleset')).exitCode, 0);
    await dp.waitFor('inet pgw re-applied', async () => /chain lan_tproxy/.test((await dp.nft('list', 'table', 'inet', 'pgw')).stdout), 5_000);
    const ms = Date.now() - started;
    console.log(`# TPROXY mode: flush ruleset -> inet pgw re-applied in ${ms} ms`);
    assert.ok(ms < 2_000, `re-applied in ${ms} ms`);
    await dp.loadGuard(); // static: a flush removes it and only its loader brings it back
    const { result, wan } = await onWan(async () => ({
      unmapped: await probes.tcpToInternet(UNMAPPED),
      exit: await dp.lab.httpGet({ ns: dp.lab.ns.lan, url: dp.lab.description.internet.echoUrl, sourceIp: EFFECTIVE, timeoutMs: 3000 }),
    }));
    assert.equal(result.unmapped.result, 'refused');
    assert.ok(result.exit.ok, `${JSON.stringify(result.exit)}\n${await logTails()}`);
    assert.deepEqual(JSON.parse(result.exit.body), { ip: dp.lab.proxies[0]!.ip });
    assertNoLeak(wan);
  });
});

/** The last lines of the gateway services' logs, for a failure message. */
async function logTails(): Promise<string> {
  const { readdir, readFile } = await import('node:fs/promises');
  const dir = dp.gateway.dir;
  const files = (await readdir(dir)).filter((f) => /^pgw-(agent|forwarder)\.log$/.test(f));
  const parts = await Promise.all(files.map(async (f) => `--- ${f}\n${(await readFile(`${dir}/${f}`, 'utf8')).split('\n').slice(-15).join('\n')}`));
  return parts.join('\n');
}

/** whoami.pgw.test TXT over TCP (RFC 1035 4.2.2, two-byte length) from argv[1] to argv[2]:argv[3]; prints the TXT string. */
const TCP_DNS_QUERY = `
const [src, host, port] = process.argv.slice(1);
const name = Buffer.concat('whoami.pgw.test'.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])));
const query = Buffer.concat([Buffer.from([0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), name, Buffer.from([0, 0, 16, 0, 1])]);
const s = require('node:net').connect({ host, port: Number(port), localAddress: src });
let got = Buffer.alloc(0);
s.on('connect', () => s.write(Buffer.concat([Buffer.from([query.length >> 8, query.length & 255]), query])));
s.on('data', (d) => {
  got = Buffer.concat([got, d]);
  if (got.length < 2 || got.length < 2 + got.readUInt16BE(0)) return;
  const answer = got.subarray(2);
  const at = 12 + name.length + 1 + 4 + 12;
  console.log(answer.readUInt16BE(6) === 0 ? 'no answer' : answer.subarray(at + 1, at + 1 + answer[at]).toString('latin1'));
  s.destroy();
});
s.on('error', (e) => { console.log(e.code); });
setTimeout(() => { console.log('timeout'); process.exit(0); }, 3000).unref();
`;
