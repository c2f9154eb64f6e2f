// The Compose deployment, really run (issue 14): images built from Debian packages without a
// registry (scripts/deploy/build-images.sh), `docker-compose up` on a real Docker Engine whose
// network namespace is the lab's gateway (network_mode: host services live there, with the lab's
// LAN on ens19 and WAN on eth0), then the lab's leak battery against it.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLab, type Lab } from '../lab/index.js';
import { ANY_LISTENER, analyzeWan, PORT_LISTENER, Prober, REPO } from '../e2e/dataplane-harness.js';
import { assertNoLeak, GATEWAY_SERVICE_PORT, type LeakProbes, leakProbes, LOOPBACK_SERVICE_PORT } from '../e2e/leak-probes.js';
import { waitFor } from '../support/wait.js';
import { DEPLOY_CACHE, type DockerDaemon, startDockerDaemon } from './docker-daemon.js';
import { DeployApi } from './deploy-api.js';

const VERSION = process.env.PGW_VERSION ?? '1.1.0-dev';
const PROJECT = 'pgwdeploy';
const EFFECTIVE = '192.168.2.10';
const BLOCKED = '192.168.2.11'; // its proxy is down
const UNMAPPED = '192.168.2.12';
const DISABLED = '192.168.2.13'; // mapping disabled
const PORTS = { [EFFECTIVE]: 20010, [BLOCKED]: 20011, [DISABLED]: 20013 } as const;
const LONG_RUNNING = ['postgres', 'redis', 'agent', 'forwarder', 'health', 'api'] as const;

let lab: Lab;
let prober: Prober;
let probes: LeakProbes;
let daemon: DockerDaemon;
let envDir: string;
let api: DeployApi;

const composeEnv = () => ({
  PGW_ENV_DIR: envDir,
  PGW_VERSION: VERSION,
  PGW_POSTGRES_IMAGE: `pgw-postgres:${VERSION}`,
  PGW_REDIS_IMAGE: `pgw-redis:${VERSION}`,
});
const compose = (args: string[], reject = true) =>
  daemon.run(['docker-compose', '-p', PROJECT, '-f', join(REPO, 'docker-compose.yml'), '-f', join(envDir, 'machine-limits.yml'), ...args], { env: composeEnv(), reject, cwd: REPO });

/**
 * What docs/DEPLOYMENT.md has a Compose host do outside Docker, which mounts /proc/sys read-only in
 * containers: the guard's kernel backstop (guard/load-guard.sh, as pgw-guard.service runs it at
 * boot) and route_localnet on the LAN interface (/etc/sysctl.d), which the agent's DNAT to
 * 127.0.0.1 needs and which it cannot switch itself there.
 */
async function hostSteps(): Promise<void> {
  await lab.exec(lab.ns.gateway, ['sh', join(REPO, 'guard/load-guard.sh')]);
  await lab.exec(lab.ns.gateway, ['sysctl', '-q', '-w', 'net.ipv4.conf.ens19.route_localnet=1']);
}
const container = (service: string) => `${PROJECT}_${service}_1`;
const inspect = async (service: string) => JSON.parse((await daemon.docker(['inspect', container(service)])).stdout)[0];
const healthOf = async (service: string): Promise<string> => {
  const state = (await inspect(service)).State;
  return state.Health?.Status ?? state.Status;
};

/** Resolves once every long-running service is healthy, and how long that took. */
async function allHealthy(since: number, timeoutMs = 180_000): Promise<number> {
  await waitFor('every Compose service healthy', timeoutMs, async () => {
    const states = await Promise.all(LONG_RUNNING.map(healthOf));
    return states.every((s) => s === 'healthy');
  }, { intervalMs: 250, retryErrors: true, detail: () => 'see docker-compose ps' });
  return Date.now() - since;
}

/** The mappings are in force: the effective client exits through its proxy, the blocked one is refused. */
async function mappingsEffective(timeoutMs: number): Promise<void> {
  let seen = '';
  await waitFor('the effective client to exit through its proxy and the blocked one to be refused', timeoutMs, async () => {
    const got = await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: EFFECTIVE, timeoutMs: 1500 });
    const blocked = await prober.tcp(BLOCKED, probes.internet, probes.httpPort);
    seen = `effective: ${JSON.stringify(got)}, blocked: ${blocked.result}`;
    // The echo answers {"ip": <source address it saw>}: the proxy's address, not the client's.
    return got.ok && (JSON.parse(got.body) as { ip?: string }).ip === lab.proxies[0]!.ip && blocked.result === 'refused';
  }, { intervalMs: 100, detail: () => seen });
}

describe('Compose deployment on a real Docker Engine in the lab gateway', { timeout: 1_800_000 }, () => {
  before(async () => {
    lab = await createLab({ clients: 4, proxies: ['socks5', 'socks5'] });
    prober = new Prober(lab.ns.lan);
    await prober.ready;
    const target = {
      lab,
      prober,
      captureWan: async () => {
        const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0' });
        return { stop: async () => analyzeWan(await capture.stop(), [...lab.clients, lab.description.lan.clientIp6], lab.proxies.map((p) => ({ ip: p.ip, port: p.port }))) };
      },
    };
    probes = leakProbes(target);
    await lab.spawn(lab.ns.gateway, ['node', '-e', ANY_LISTENER, String(GATEWAY_SERVICE_PORT)], { name: 'gateway-service' });
    await lab.spawn(lab.ns.gateway, ['node', '-e', PORT_LISTENER, String(LOOPBACK_SERVICE_PORT)], { name: 'loopback-service' });
    await probes.routeLoopbackToGateway();
    daemon = await startDockerDaemon(lab.ns.gateway);
    const started = Date.now();
    const built = await daemon.run(['bash', 'scripts/deploy/build-images.sh'], { cwd: REPO });
    for (const line of built.stdout.split('\n').filter((l) => / image | built /.test(l))) console.log(`# ${line.replace(/\x1b\[[0-9;]*m/g, '')}`);
    console.log(`# compose: images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    envDir = join(lab.dir, 'env');
    mkdirSync(envDir);
    await daemon.run(['sh', join(REPO, 'docker/generate-env.sh'), envDir]);
    api = new DeployApi(lab, readFileSync(join(envDir, 'api.env'), 'utf8'));
    // This machine refuses a higher RLIMIT_NOFILE than its own hard limit (no CAP_SYS_RESOURCE), so
    // the forwarder's 65536 becomes that limit here; everything else is the Compose file as shipped.
    const hardNofile = Number((await daemon.run(['sh', '-c', 'ulimit -Hn'])).stdout.trim());
    writeFileSync(join(envDir, 'machine-limits.yml'), hardNofile >= 65536 ? 'services: {}\n' : `services:\n  forwarder:\n    ulimits:\n      nofile: { soft: ${hardNofile}, hard: ${hardNofile} }\n`);
    if (hardNofile < 65536) console.log(`# compose: forwarder nofile limited to this machine's hard limit ${hardNofile}`);
  });

  after(async () => {
    prober?.close();
    if (daemon) {
      const logs = await compose(['logs', '--no-color', '--tail', '300'], false).catch(() => undefined);
      if (logs) writeFileSync(join(DEPLOY_CACHE, 'compose-last-run.log'), logs.stdout);
      await compose(['down', '-v', '--timeout', '5'], false).catch(() => undefined);
      await daemon.stop();
    }
    await lab?.destroy();
  });

  it('positive control before the stack: the unmapped client reaches the internet directly and is seen on eth0', async () => {
    const { result, wan } = await probes.onWan(() => probes.tcpToInternet(UNMAPPED));
    assert.equal(result.result, 'connected');
    assert.ok(wan.fromClients.some((l) => l.includes(`${UNMAPPED}.`)), 'the capture sees a client on eth0');
  });

  it('docker-compose up starts every service healthy, with its user, capabilities and a read-only filesystem', async () => {
    await hostSteps();
    const started = Date.now();
    await compose(['up', '-d', '--no-build']);
    const ms = await allHealthy(started);
    console.log(`# compose: stack start (docker-compose up -d to every service healthy) ${(ms / 1000).toFixed(1)} s`);
    const expected = {
      agent: { user: 'root', capAdd: ['NET_ADMIN'], capEff: '0000000000001000' },
      forwarder: { user: 'pgw', capAdd: null, capEff: '0000000000000000' },
      health: { user: 'pgw-health', capAdd: null, capEff: '0000000000000000' },
      api: { user: 'pgw-api', capAdd: null, capEff: '0000000000000000' },
    } as const;
    for (const [service, want] of Object.entries(expected)) {
      const info = await inspect(service);
      assert.equal(info.Config.User, want.user, `${service} user`);
      assert.deepEqual(info.HostConfig.CapDrop, ['ALL'], `${service} cap_drop`);
      assert.deepEqual(info.HostConfig.CapAdd, want.capAdd, `${service} cap_add`);
      assert.equal(info.HostConfig.ReadonlyRootfs, true, `${service} read_only`);
      assert.ok(info.HostConfig.SecurityOpt.includes('no-new-privileges:true'), `${service} no-new-privileges`);
      // What the kernel says of the running service (PID 1 of the container is node).
      const status = (await daemon.docker(['exec', container(service), 'cat', '/proc/1/status'])).stdout;
      assert.match(status, new RegExp(`^CapEff:\\s+${want.capEff}$`, 'm'), `${service} effective capabilities`);
      assert.match(status, /^NoNewPrivs:\s+1$/m, `${service} no_new_privs`);
      const write = await daemon.docker(['exec', container(service), 'sh', '-c', 'echo x > /opt/pgw/written'], { reject: false });
      assert.notEqual(write.exitCode, 0, `${service}: a write to its image must fail`);
      assert.match(write.stderr, /Read-only file system/, service);
    }
    for (const oneShot of ['migrate', 'guard']) {
      const state = (await inspect(oneShot)).State;
      assert.equal(state.Status, 'exited', oneShot);
      assert.equal(state.ExitCode, 0, oneShot);
    }
    // The guard's table is in the gateway's namespace, loaded by its container.
    assert.equal((await lab.exec(lab.ns.gateway, ['nft', 'list', 'table', 'inet', 'pgw_guard'], { reject: false })).exitCode, 0);
  });

  it('a mapped client exits through its proxy once mapped through the api (time to all mappings effective)', async () => {
    await api.login();
    const up = await api.post('/api/v1/proxies', { name: 'lab-socks5', url: lab.proxies[0]!.url });
    const second = await api.post('/api/v1/proxies', { name: 'lab-socks5-second', url: lab.proxies[1]!.url });
    const started = Date.now();
    // The api maps only to a proxy that passes its probe: the blocked client's proxy goes down afterwards.
    await api.post('/api/v1/mappings', { clientIp: EFFECTIVE, proxyId: up.id, listenPort: PORTS[EFFECTIVE] });
    await api.post('/api/v1/mappings', { clientIp: BLOCKED, proxyId: second.id, listenPort: PORTS[BLOCKED] });
    await api.post('/api/v1/mappings', { clientIp: DISABLED, proxyId: up.id, listenPort: PORTS[DISABLED], enabled: false });
    await lab.proxies[1]!.stop();
    await mappingsEffective(90_000);
    console.log(`# compose: mappings created through the api -> effective (the effective client exits through its proxy, the blocked one is refused) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  it('flow 1: the effective client’s TCP lands on its own forwarder port; nothing crosses eth0 but the proxy connection', async () => {
    const { result, wan } = await probes.onWan(() => probes.tcpToInternet(EFFECTIVE));
    assert.equal(result.result, 'connected');
    assertNoLeak(wan);
    const conntrack = await lab.exec(lab.ns.gateway, ['conntrack', '-L', '-s', EFFECTIVE, '-p', 'tcp'], { reject: false });
    assert.match(conntrack.stdout, new RegExp(`src=127\\.0\\.0\\.1 dst=${EFFECTIVE} sport=${PORTS[EFFECTIVE]} `), 'DNAT-ed to 127.0.0.1:<its port>');
  });

  it('flows 4, 5, 6: blocked, disabled and unmapped clients are refused at once; nothing crosses eth0', async () => {
    const { result, wan } = await probes.onWan(async () => Promise.all([BLOCKED, DISABLED, UNMAPPED].map((src) => probes.tcpToInternet(src))));
    for (const r of result) {
      assert.equal(r.result, 'refused');
      assert.ok(r.ms < 200, `refused in ${r.ms} ms`);
    }
    assertNoLeak(wan);
  });

  it('flow 7: UDP/53 (to the WAN and to the gateway) and ICMP from every client get nothing; nothing crosses eth0', async () => {
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
    const { result, wan } = await probes.onWan(() => probes.ipv6ToGateway());
    assert.equal(result.result, 'timeout');
    assertNoLeak(wan);
  });

  it('flow 8: a LAN packet to 127.0.0.1 reaches no loopback service, nor another client’s forwarder port', async () => {
    const { result, wan } = await probes.onWan(async () => [
      await probes.loopbackService(EFFECTIVE),
      await probes.loopbackService(UNMAPPED),
      await prober.tcp(UNMAPPED, '127.0.0.1', PORTS[EFFECTIVE]),
    ]);
    assert.deepEqual(result.map((r) => r.result), ['timeout', 'timeout', 'timeout']);
    assertNoLeak(wan);
  });

  it('reboot: the engine restarts with the kernel state of a fresh boot; the stack comes back and enforces the mappings', async () => {
    await daemon.stopEngine();
    // What a reboot leaves: no tables, the kernel's defaults; then the host's boot steps.
    await lab.exec(lab.ns.gateway, ['nft', 'flush', 'ruleset']);
    for (const key of ['net.ipv4.conf.ens19.route_localnet=0', 'net.ipv4.conf.ens19.forwarding=1', 'net.ipv6.conf.ens19.disable_ipv6=0']) await lab.exec(lab.ns.gateway, ['sysctl', '-q', '-w', key]);
    await hostSteps();
    const started = Date.now();
    await daemon.startEngine();
    await mappingsEffective(60_000);
    const ms = Date.now() - started;
    console.log(`# compose: reboot (engine start -> every mapping effective) ${(ms / 1000).toFixed(1)} s`);
    const { result, wan } = await probes.onWan(async () => Promise.all([UNMAPPED, DISABLED].map((src) => probes.tcpToInternet(src))));
    assert.deepEqual(result.map((r) => r.result), ['refused', 'refused']);
    assertNoLeak(wan);
  });
});
