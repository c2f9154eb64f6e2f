// Leak tests of the flow spec (docs/SECURITY.md): real nftables, the real agent and guard in a lab.
// Every probe is also run with enforcement off (positive control) so a capture that sees nothing
// cannot make a test pass.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDataplane, type Dataplane } from './dataplane-harness.js';
import { assertNoLeak, assertRefusedAtOnce, GATEWAY_SERVICE_PORT, type LeakProbes, leakProbes, LOOPBACK_SERVICE_PORT } from './leak-probes.js';

const EFFECTIVE = '192.168.2.10';
const BLOCKED = '192.168.2.11'; // proxy down
const UNMAPPED = '192.168.2.12';
const DISABLED = '192.168.2.13'; // mapping disabled
const PORTS = { [EFFECTIVE]: 20010, [BLOCKED]: 20011, [DISABLED]: 20013 } as const;
let dp: Dataplane;
let probes: LeakProbes;
let internet: string;
let httpPort: number;
const routeLoopbackToGateway = () => probes.routeLoopbackToGateway();
const onWan = <T>(probe: () => Promise<T>) => probes.onWan(probe);

describe('dataplane leak tests (docs/SECURITY.md flows)', { timeout: 240_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 4, proxies: ['socks5'] });
    probes = leakProbes(dp);
    internet = dp.lab.description.internet.ip;
    httpPort = dp.lab.description.internet.httpPort;
    await dp.loadGuard();
    const up = await dp.addProxy(0, 'up');
    const down = await dp.addProxy(0, 'down');
    await dp.addMapping(EFFECTIVE, up, PORTS[EFFECTIVE]);
    await dp.addMapping(BLOCKED, down, PORTS[BLOCKED]);
    await dp.addMapping(DISABLED, up, PORTS[DISABLED], false);
    // Every mapped port has a listening socket, the agent's own (it holds the forwarder's
    // listeners): a blocked client wrongly DNAT-ed would connect, so the test can fail.
    await dp.startPortListeners([LOOPBACK_SERVICE_PORT]);
    await dp.startGatewayService(GATEWAY_SERVICE_PORT);
    await routeLoopbackToGateway();
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mappings', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
    await dp.waitFor('route_localnet on ens19', async () => (await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim() === '1');
  });

  after(async () => {
    await dp?.destroy();
  });

  it('flow 1: an effective client’s TCP to a WAN host lands on its own forwarder port; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(() => probes.tcpToInternet(EFFECTIVE));
    assert.equal(result.result, 'connected');
    assertNoLeak(wan);
    const conntrack = await dp.lab.exec(dp.gw, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp'], { reject: false });
    assert.match(conntrack.stdout, new RegExp(`dport=${httpPort} src=127\\.0\\.0\\.1 dst=${EFFECTIVE} sport=${PORTS[EFFECTIVE]} `), 'DNAT-ed to 127.0.0.1:<its port>');
  });

  it('flows 4, 5, 6: blocked (proxy down, mapping disabled) and unmapped clients are refused at once; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(() => probes.tcpToInternetTimed([BLOCKED, DISABLED, UNMAPPED]));
    assertRefusedAtOnce(result);
    assertNoLeak(wan);
  });

  it('flow 7: UDP/53 (to the WAN and to the gateway) and ICMP from every client get nothing; nothing crosses eth0', async () => {
    const { result, wan } = await onWan(async () => {
      const out = [];
      for (const src of dp.lab.clients) out.push({ dns: await probes.udpDns(src), ping: await probes.ping(src) });
      return out;
    });
    for (const r of result) {
      assert.deepEqual(r.dns.map((d) => d.result), ['none', 'none']);
      assert.equal(r.ping.exitCode, 1, r.ping.stderr);
    }
    assertNoLeak(wan);
  });

  it('flow 10: LAN IPv6 gets nothing (not even the gateway); nothing crosses eth0', async () => {
    const { result, wan } = await onWan(() => probes.ipv6ToGateway());
    assert.equal(result.result, 'timeout');
    assertNoLeak(wan);
  });

  it('flow 8: a LAN packet addressed to 127.0.0.1 (route_localnet hole) reaches no loopback service', async () => {
    assert.equal((await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim(), '1');
    for (const src of [EFFECTIVE, UNMAPPED]) assert.equal((await probes.loopbackService(src)).result, 'timeout');
    // Another client's forwarder port is a loopback service too.
    assert.equal((await dp.prober.tcp(UNMAPPED, '127.0.0.1', PORTS[EFFECTIVE])).result, 'timeout');
  });

  it('flow 9: the LAN reaches no gateway service; an effective client only ever reaches its own port', async () => {
    assert.equal((await probes.gatewayService(UNMAPPED)).result, 'refused');
    assert.equal((await probes.gatewayService(BLOCKED)).result, 'refused');
    // The effective client's TCP to the gateway is DNAT-ed to its own forwarder port like any other.
    assert.equal((await probes.gatewayService(EFFECTIVE)).result, 'connected');
    const conntrack = await dp.lab.exec(dp.gw, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp', '--orig-port-dst', String(GATEWAY_SERVICE_PORT)], { reject: false });
    assert.match(conntrack.stdout, new RegExp(`src=127\\.0\\.0\\.1 dst=${EFFECTIVE} sport=${PORTS[EFFECTIVE]}`));
  });

  it('flow 14: with the agent killed the rules stay in force and route_localnet goes off (the effective client gets nothing until it is back); nothing crosses eth0', async () => {
    await dp.killAgent();
    assert.equal((await dp.lab.exec(dp.gw, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim(), '0');
    const { result, wan } = await onWan(async () => Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))));
    // DNAT-ed to 127.0.0.1 without route_localnet: a martian, dropped by the kernel.
    assert.deepEqual(result.map((r) => r.result), ['timeout', 'refused', 'refused', 'refused']);
    assertNoLeak(wan);
    await dp.startAgent();
  });

  it('flow 15: with inet pgw deleted and the agent stopped, the guard alone forwards nothing and keeps the loopback hole shut', async () => {
    await dp.killAgent();
    assert.equal((await dp.nft('delete', 'table', 'inet', 'pgw')).exitCode, 0);
    const { result, wan } = await onWan(async () => ({
      tcp: await Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))),
      dns: await probes.udpDns(UNMAPPED),
      ping: await probes.ping(UNMAPPED),
      loopback: await probes.loopbackService(UNMAPPED),
    }));
    for (const r of result.tcp) assert.notEqual(r.result, 'connected');
    assert.equal(result.loopback.result, 'timeout');
    assertNoLeak(wan);
    await dp.startAgent();
    await dp.waitFor('inet pgw restored from the state file', async () => (await dp.setElements('lan_mapped')) !== null);
  });

  it('flow 15: another tool’s `nft flush ruleset` — the agent restores inet pgw within about a second', async () => {
    await dp.waitFor('the agent to be in steady state', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]));
    const started = Date.now();
    assert.equal((await dp.nft('flush', 'ruleset')).exitCode, 0);
    await dp.waitFor('inet pgw re-applied', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([EFFECTIVE]), 5_000);
    const ms = Date.now() - started;
    console.log(`# flush ruleset -> inet pgw re-applied in ${ms} ms`);
    assert.ok(ms < 2_000, `re-applied in ${ms} ms`);
    await dp.loadGuard(); // static: a flush removes it and only its loader brings it back
    const { result, wan } = await onWan(() => probes.tcpToInternet(UNMAPPED));
    assert.equal(result.result, 'refused');
    assertNoLeak(wan);
  });

  it('positive control: with inet pgw, the guard and the kernel backstop absent, the same probes are seen on eth0 and reach their targets', async () => {
    await dp.killAgent();
    await dp.nft('delete', 'table', 'inet', 'pgw');
    await dp.nft('delete', 'table', 'inet', 'pgw_guard');
    // The kernel layer (docs/SECURITY.md, "Layers") switched back to what a plain router has.
    for (const key of ['net.ipv4.conf.ens19.forwarding=1', 'net.ipv6.conf.ens19.disable_ipv6=0', 'net.ipv4.conf.ens19.route_localnet=1']) await dp.lab.exec(dp.gw, ['sysctl', '-q', '-w', key]);
    // And the policy routing that refuses LAN -> 127/8 without pgw's mark (lan-routing.ts): the
    // kernel's default rules again (local lookup at pref 0). The guard loader puts ours back.
    await dp.lab.exec(dp.gw, ['ip', 'rule', 'add', 'pref', '0', 'lookup', 'local']);
    for (const pref of ['100', '101']) assert.equal((await dp.lab.exec(dp.gw, ['ip', 'rule', 'del', 'pref', pref, 'protocol', '242'])).exitCode, 0);
    // The moved local rule has the kernel's protocol (lan-routing.ts).
    assert.equal((await dp.lab.exec(dp.gw, ['ip', 'rule', 'del', 'pref', '102', 'lookup', 'local'])).exitCode, 0);
    await dp.lab.exec(dp.gw, ['ip', 'addr', 'replace', `${dp.lab.description.gateway.lanIp6}/64`, 'dev', 'ens19', 'nodad']);
    try {
      const { result, wan } = await onWan(async () => ({
        tcp: await Promise.all(dp.lab.clients.map((src) => probes.tcpToInternet(src))),
        dns: await probes.udpDns(UNMAPPED),
        ping: await probes.ping(UNMAPPED),
        ipv6: await probes.ipv6ToGateway(),
        loopback: await probes.loopbackService(UNMAPPED),
        gatewayService: await probes.gatewayService(UNMAPPED),
      }));
      assert.deepEqual(result.tcp.map((r) => r.result), ['connected', 'connected', 'connected', 'connected'], 'flows 1, 4-6: clients reach the WAN host directly');
      for (const src of dp.lab.clients) assert.ok(wan.fromClients.some((l) => l.includes(`${src}.`) && l.includes(`${internet}.${httpPort}`)), `flow 4: ${src} seen on eth0`);
      assert.ok(wan.fromClients.some((l) => l.includes(`${UNMAPPED}.`) && l.includes(`${internet}.53:`)), 'flow 7: UDP/53 seen on eth0');
      assert.ok(wan.fromClients.some((l) => l.includes(`${UNMAPPED} > ${internet}: ICMP echo request`)), `flow 7: ICMP seen on eth0:\n${wan.all.filter((l) => !l.includes('Flags')).join('\n')}\n${JSON.stringify(result.ping)}`);
      assert.equal(result.ping.exitCode, 0);
      assert.equal(result.ipv6.result, 'connected', 'flow 10: IPv6 reaches the gateway');
      assert.equal(result.loopback.result, 'connected', 'flow 8: the loopback hole is open without the rules');
      assert.equal(result.gatewayService.result, 'connected', 'flow 9: gateway services are reachable without the rules');
      assert.ok(wan.toOtherHosts.length > 0);
    } finally {
      await dp.loadGuard();
      await dp.startAgent();
    }
  });
});
