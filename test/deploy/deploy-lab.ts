/**
 * What both deployment tests (Compose, systemd) share: the lab around the deployed gateway (a LAN
 * prober, a service on every gateway address and one on its loopback, the LAN's 127.0.0.0/8 routed to
 * the gateway, tcpdump on eth0), the mappings an operator creates through the deployed api, the check
 * that they are in force, and the leak battery of test/e2e/dataplane-leak.test.ts as test cases.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createLab, type Lab } from '../../lab/index.js';
import { analyzeWan, ANY_LISTENER, PORT_LISTENER, Prober } from '../e2e/dataplane-harness.js';
import { assertNoLeak, assertRefusedAtOnce, GATEWAY_SERVICE_PORT, type LeakProbes, leakProbes, LOOPBACK_SERVICE_PORT } from '../e2e/leak-probes.js';
import { waitFor } from '../../lab/wait.js';
import type { DeployApi } from './deploy-api.js';
import { metricSum } from '../support/prometheus-text.js';

export const EFFECTIVE = '192.168.2.10';
export const BLOCKED = '192.168.2.11'; // its proxy is down
export const UNMAPPED = '192.168.2.12';
export const DISABLED = '192.168.2.13'; // mapping disabled
export const PORTS = { [EFFECTIVE]: 20010, [BLOCKED]: 20011, [DISABLED]: 20013 } as const;

/** pgw's long-running services and where each answers its health check (the gateway's loopback, both layouts). */
export const SERVICES = ['agent', 'forwarder', 'health', 'api'] as const;
export type Service = (typeof SERVICES)[number];
export const HEALTH_URL: Record<Service, string> = {
  agent: 'http://127.0.0.1:9101/healthz',
  forwarder: 'http://127.0.0.1:9102/healthz',
  health: 'http://127.0.0.1:9103/healthz',
  api: 'http://127.0.0.1:8080/healthz',
};

/** Resolves once every pgw service answers its health URL from the gateway namespace. */
export async function allHealthy({ lab }: DeployLab, timeoutMs: number): Promise<void> {
  let seen = '';
  await waitFor('every pgw service healthy', timeoutMs, async () => {
    const codes = await Promise.all(SERVICES.map(async (s) => (await lab.exec(lab.ns.gateway, ['curl', '-fsS', '-o', '/dev/null', '--max-time', '2', HEALTH_URL[s]], { reject: false })).exitCode));
    seen = SERVICES.map((s, i) => `${s}: ${codes[i]}`).join(', ');
    return codes.every((c) => c === 0);
  }, { intervalMs: 200, detail: () => seen });
}

export interface DeployLab {
  lab: Lab;
  prober: Prober;
  probes: LeakProbes;
}

/** A lab with four clients and two SOCKS5 proxies, and the services and routes the leak probes need. */
export async function createDeployLab(): Promise<DeployLab> {
  const lab = await createLab({ clients: 4, proxies: ['socks5', 'socks5'] });
  const prober = new Prober(lab.ns.lan);
  await prober.ready;
  const probes = leakProbes({
    lab,
    prober,
    captureWan: async () => {
      const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0' });
      return { stop: async () => analyzeWan(await capture.stop(), [...lab.clients, lab.description.lan.clientIp6], lab.proxies.map((p) => ({ ip: p.ip, port: p.port }))) };
    },
  });
  await lab.spawn(lab.ns.gateway, ['node', '-e', ANY_LISTENER, String(GATEWAY_SERVICE_PORT)], { name: 'gateway-service' });
  await lab.spawn(lab.ns.gateway, ['node', '-e', PORT_LISTENER, String(LOOPBACK_SERVICE_PORT)], { name: 'loopback-service' });
  await probes.routeLoopbackToGateway();
  return { lab, prober, probes };
}

/**
 * What an operator does in the console: two proxies, the effective, blocked and disabled clients'
 * mappings; then the blocked client's proxy goes down (the api maps only to a proxy that passes its
 * probe). Resolves when the mappings were created.
 */
export async function mapThroughApi({ lab }: DeployLab, api: DeployApi): Promise<void> {
  await api.login();
  const up = await api.post('/api/v1/proxies', { name: 'lab-socks5', url: lab.proxies[0]!.url });
  const second = await api.post('/api/v1/proxies', { name: 'lab-socks5-second', url: lab.proxies[1]!.url });
  await api.post('/api/v1/mappings', { clientIp: EFFECTIVE, proxyId: up.id, listenPort: PORTS[EFFECTIVE] });
  await api.post('/api/v1/mappings', { clientIp: BLOCKED, proxyId: second.id, listenPort: PORTS[BLOCKED] });
  await api.post('/api/v1/mappings', { clientIp: DISABLED, proxyId: up.id, listenPort: PORTS[DISABLED], enabled: false });
  await lab.proxies[1]!.stop();
}

/** The mappings are in force: the effective client exits through its proxy, the blocked one is refused. */
export async function mappingsEffective({ lab, prober, probes }: DeployLab, timeoutMs: number): Promise<void> {
  let seen = '';
  let why = '';
  let whyAt = 0;
  await waitFor('the effective client to exit through its proxy and the blocked one to be refused', timeoutMs, async () => {
    const got = await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: EFFECTIVE, timeoutMs: 1500 });
    const blocked = await prober.tcp(BLOCKED, probes.internet, probes.httpPort);
    seen = `effective: ${JSON.stringify(got)}, blocked: ${blocked.result}`;
    // The echo answers {"ip": <source address it saw>}: the proxy's address, not the client's.
    const effective = got.ok && (JSON.parse(got.body) as { ip?: string }).ip === lab.proxies[0]!.ip && blocked.result === 'refused';
    // What the services say meanwhile, every few seconds: a wait that times out in CI names its cause.
    if (!effective && Date.now() - whyAt > 3_000) {
      whyAt = Date.now();
      why = await servicesView(lab);
    }
    return effective;
  }, { intervalMs: 100, detail: () => `${seen}; ${why}` });
}

/** The agent's blocked clients, health's proxy verdicts and the sockets listening on the mapped ports, as seen from the gateway. */
async function servicesView(lab: Lab): Promise<string> {
  const read = async (argv: string[]) => (await lab.exec(lab.ns.gateway, argv, { reject: false })).stdout;
  const gauges = async (url: string, name: string) => (await read(['curl', '-fsS', '--max-time', '2', url])).split('\n').filter((l) => l.startsWith(name)).join(' ');
  const [blocked, up, listening] = await Promise.all([
    gauges('http://127.0.0.1:9101/metrics', 'pgw_client_blocked{'),
    gauges('http://127.0.0.1:9103/metrics', 'pgw_proxy_up{'),
    read(['ss', '-Hltn', `( ${Object.values(PORTS).map((p) => `sport = :${p}`).join(' or ')} )`]),
  ]);
  return `agent: ${blocked || 'no client blocked'}; health: ${up || 'no proxy verdict'}; listening: ${listening.trim().replace(/\s+/g, ' ') || 'none'}`;
}

/** The positive control, before any pgw runs: the unmapped client reaches the internet and the capture sees it. */
export function positiveControl(ctx: () => DeployLab): void {
  it('positive control before the stack: the unmapped client reaches the internet directly and is seen on eth0', async () => {
    const { probes } = ctx();
    const { result, wan } = await probes.onWan(() => probes.tcpToInternet(UNMAPPED));
    assert.equal(result.result, 'connected');
    assert.ok(wan.fromClients.some((l) => l.includes(`${UNMAPPED}.`)), 'the capture sees a client on eth0');
  });
}

/** Flows 1, 4-10 of docs/SECURITY.md against a deployment whose mappings are in force (mapThroughApi). */
export function leakBattery(ctx: () => DeployLab): void {
  it('flow 1: the effective client’s TCP lands on its own forwarder port; nothing crosses eth0 but the proxy connection', async () => {
    const { lab, probes } = ctx();
    const { result, wan } = await probes.onWan(() => probes.tcpToInternet(EFFECTIVE));
    assert.equal(result.result, 'connected');
    assertNoLeak(wan);
    const conntrack = await lab.exec(lab.ns.gateway, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp'], { reject: false });
    assert.match(conntrack.stdout, new RegExp(`src=127\\.0\\.0\\.1 dst=${EFFECTIVE} sport=${PORTS[EFFECTIVE]} `), 'DNAT-ed to 127.0.0.1:<its port>');
  });

  it('flows 4, 5, 6: blocked, disabled and unmapped clients are refused at once; nothing crosses eth0', async () => {
    const { probes } = ctx();
    const { result, wan } = await probes.onWan(() => probes.tcpToInternetTimed([BLOCKED, DISABLED, UNMAPPED]));
    assertRefusedAtOnce(result);
    assertNoLeak(wan);
  });

  it('flow 7: UDP/53 (to the WAN and to the gateway) and ICMP from every client get nothing; nothing crosses eth0', async () => {
    const { lab, probes } = ctx();
    const { result, wan } = await probes.onWan(async () => {
      const out = [];
      for (const src of lab.clients) out.push({ dns: await probes.udpDns(src), ping: await probes.ping(src) });
      return out;
    });
    for (const r of result) {
      assert.deepEqual(r.dns.map((d) => d.result), ['none', 'none']);
      assert.equal(r.ping.exitCode, 1, r.ping.stderr);
    }
    assertNoLeak(wan);
  });

  it('flow 10: LAN IPv6 gets nothing, not even the gateway; nothing crosses eth0', async () => {
    const { probes } = ctx();
    const { result, wan } = await probes.onWan(() => probes.ipv6ToGateway());
    assert.equal(result.result, 'timeout');
    assertNoLeak(wan);
  });

  it('flow 8: a LAN packet to 127.0.0.1 reaches no loopback service, nor another client’s forwarder port', async () => {
    const { prober, probes } = ctx();
    const { result, wan } = await probes.onWan(async () => [
      await probes.loopbackService(EFFECTIVE),
      await probes.loopbackService(UNMAPPED),
      await prober.tcp(UNMAPPED, '127.0.0.1', PORTS[EFFECTIVE]),
    ]);
    assert.deepEqual(result.map((r) => r.result), ['timeout', 'timeout', 'timeout']);
    assertNoLeak(wan);
  });

  it('flow 9: the LAN reaches no gateway service; the effective client’s TCP to it goes to its own forwarder port, which refuses the gateway', async () => {
    const { lab, probes } = ctx();
    // The forwarder's counters (all labels summed): what it accepted, refused and failed.
    const forwarderCounts = async () => {
      const text = (await lab.exec(lab.ns.gateway, ['curl', '-fsS', '--max-time', '3', 'http://127.0.0.1:9102/metrics'])).stdout;
      return {
        accepted: metricSum(text, 'pgw_forwarder_connections_total'),
        refused: metricSum(text, 'pgw_forwarder_refused_total'),
        failed: metricSum(text, 'pgw_forwarder_failures_total'),
      };
    };
    const before = await forwarderCounts();
    const { result, wan } = await probes.onWan(async () => [
      await probes.gatewayService(UNMAPPED),
      await probes.gatewayService(BLOCKED),
      await probes.gatewayService(EFFECTIVE),
    ]);
    assert.deepEqual(result.slice(0, 2).map((r) => r.result), ['refused', 'refused']);
    // The effective client's forwarder accepts and at once resets it (destination policy: the
    // gateway): the client sees a reset, or a connection that is reset, as the race goes. The proof
    // that the service was not reached is where conntrack sent it and the forwarder's count.
    assert.ok(['refused', 'connected'].includes(result[2]!.result), result[2]!.result);
    const conntrack = await lab.exec(lab.ns.gateway, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp', '--orig-port-dst', String(GATEWAY_SERVICE_PORT)], { reject: false });
    assert.match(conntrack.stdout, new RegExp(`src=127\\.0\\.0\\.1 dst=${EFFECTIVE} sport=${PORTS[EFFECTIVE]}`), 'DNAT-ed to its own forwarder port, not the service');
    const after = await forwarderCounts();
    console.log(`# flow 9: forwarder counters before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
    assert.equal(after.accepted, before.accepted + 1, `the client's own forwarder took the connection (before ${JSON.stringify(before)}, after ${JSON.stringify(after)})`);
    assertNoLeak(wan);
  });
}

/** How a layout stops and starts its agent and re-loads its guard (systemctl, or docker). */
export interface AgentControl {
  stop(): Promise<void>;
  start(): Promise<void>;
  reloadGuard(): Promise<void>;
  /**
   * The LAN's route_localnet while the agent is down: 0 under systemd (its ExecStopPost), 1 under
   * Compose (the host's sysctl file: containers cannot write /proc/sys; docs/DEPLOYMENT.md).
   */
  localnetWhileDown: '0' | '1';
}

const routeLocalnet = async (lab: Lab) => (await lab.exec(lab.ns.gateway, ['cat', '/proc/sys/net/ipv4/conf/ens19/route_localnet'])).stdout.trim();

/** Flows 14 and 15 of docs/SECURITY.md with the layout's own agent supervision; the mappings are in force after each. */
export function agentDownFlows(ctx: () => DeployLab, control: () => AgentControl): void {
  it('flow 14: with the agent stopped the rules stay in force; nothing crosses eth0 but the proxy connection', async () => {
    const { lab, probes } = ctx();
    const agent = control();
    assert.equal(await routeLocalnet(lab), '1');
    await agent.stop();
    assert.equal(await routeLocalnet(lab), agent.localnetWhileDown, 'route_localnet with the agent down');
    const { result, wan } = await probes.onWan(async () => Promise.all(lab.clients.map((src) => probes.tcpToInternet(src))));
    // Without route_localnet the DNAT-ed packet is a martian, dropped by the kernel; with it (Compose)
    // the forwarder still holds the client's port and relays through its proxy as before.
    assert.deepEqual(result.map((r) => r.result), [agent.localnetWhileDown === '0' ? 'timeout' : 'connected', 'refused', 'refused', 'refused']);
    assertNoLeak(wan);
    await agent.start();
    await mappingsEffective(ctx(), 30_000);
  });

  it('flow 15: with inet pgw deleted and the agent stopped, the guard alone forwards nothing; a flush ruleset is undone', async () => {
    const { lab, probes } = ctx();
    const agent = control();
    await agent.stop();
    assert.equal((await lab.exec(lab.ns.gateway, ['nft', 'delete', 'table', 'inet', 'pgw'], { reject: false })).exitCode, 0);
    const { result, wan } = await probes.onWan(async () => ({
      tcp: await Promise.all(lab.clients.map((src) => probes.tcpToInternet(src))),
      loopback: await probes.loopbackService(UNMAPPED),
    }));
    for (const r of result.tcp) assert.notEqual(r.result, 'connected');
    assert.equal(result.loopback.result, 'timeout');
    assertNoLeak(wan);
    const starting = Date.now();
    await agent.start();
    await mappingsEffective(ctx(), 30_000);
    console.log(`# flow 15: agent start (inet pgw deleted) -> every mapping effective ${((Date.now() - starting) / 1000).toFixed(1)} s`);
    // Another tool's `nft flush ruleset`: the agent restores inet pgw; the guard's loader its table.
    const flushed = Date.now();
    await lab.exec(lab.ns.gateway, ['nft', 'flush', 'ruleset']);
    await waitFor('inet pgw re-applied by the agent', 10_000, async () => (await lab.exec(lab.ns.gateway, ['nft', 'list', 'table', 'inet', 'pgw'], { reject: false })).exitCode === 0, { intervalMs: 50 });
    console.log(`# flush ruleset -> inet pgw re-applied in ${Date.now() - flushed} ms`);
    await agent.reloadGuard();
    assert.equal((await lab.exec(lab.ns.gateway, ['nft', 'list', 'table', 'inet', 'pgw_guard'], { reject: false })).exitCode, 0);
    await mappingsEffective(ctx(), 30_000);
  });
}
