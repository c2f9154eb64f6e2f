// The Compose deployment, really run (issue 14): images built from Debian packages without a
// registry (scripts/deploy/build-images.sh), `docker-compose up` on a real Docker Engine whose
// network namespace is the lab's gateway (network_mode: host services live there, with the lab's
// LAN on ens19 and WAN on eth0), then the lab's leak battery against it.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO } from '../e2e/dataplane-harness.js';
import { assertNoLeak } from '../e2e/leak-probes.js';
import { waitFor } from '../../lab/wait.js';
import { agentDownFlows, allHealthy as servicesAnswer, createDeployLab, type DeployLab, DISABLED, leakBattery, mappingsEffective, mapThroughApi, positiveControl, SERVICES, UNMAPPED } from './deploy-lab.js';
import { machineLoad } from '../bench/ops-machine.js';
import { DEPLOY_CACHE, type DockerDaemon, startDockerDaemon } from './docker-daemon.js';
import { DeployApi } from './deploy-api.js';

const VERSION = process.env.PGW_VERSION ?? '1.1.0-dev';
const PROJECT = 'pgwdeploy';
const LONG_RUNNING = ['postgres', 'redis', 'agent', 'forwarder', 'health', 'api'] as const;
/** stop_grace_period in docker-compose.yml; a stop must take under half of it (the CLI's own start included: 2-3 s at load 19). */
const GRACE_S = { agent: 15, forwarder: 30, health: 15, api: 15 } as const;

let target: DeployLab;
let daemon: DockerDaemon;
let envDir: string;
let api: DeployApi;
/** The host's guard (loader and file), as pgw-guard.service has it: a copy with a chain the images' files lack. */
let hostGuardDir: string;
const HOST_FILE_MARK = 'host_file_only';

const composeEnv = () => ({
  PGW_ENV_DIR: envDir,
  PGW_VERSION: VERSION,
  PGW_POSTGRES_IMAGE: `pgw-postgres:${VERSION}`,
  PGW_REDIS_IMAGE: `pgw-redis:${VERSION}`,
  PGW_HOST_GUARD_DIR: hostGuardDir,
});
const compose = (args: string[], reject = true) =>
  daemon.run(['docker-compose', '-p', PROJECT, '-f', join(REPO, 'docker-compose.yml'), '-f', join(envDir, 'machine-limits.yml'), ...args], { env: composeEnv(), reject, cwd: REPO });

/**
 * What docs/DEPLOYMENT.md has a Compose host do outside Docker, which mounts /proc/sys read-only in
 * containers: the guard's kernel backstop (guard/load-guard.sh, as pgw-guard.service runs it at
 * boot) and route_localnet on the LAN interface (/etc/sysctl.d), which the agent's DNAT to
 * 127.0.0.1 needs and which it cannot switch itself there, with tcp_tw_reuse as the same file sets it.
 */
async function hostSteps(): Promise<void> {
  await loadHostGuard();
  await target.lab.exec(target.lab.ns.gateway, ['sysctl', '-q', '-w', 'net.ipv4.conf.ens19.route_localnet=1', 'net.ipv4.tcp_tw_reuse=1']);
}
const loadHostGuard = async () => void (await target.lab.exec(target.lab.ns.gateway, ['sh', join(hostGuardDir, 'load-guard.sh')]));
const guardTable = async () => (await target.lab.exec(target.lab.ns.gateway, ['nft', 'list', 'table', 'inet', 'pgw_guard'], { reject: false })).stdout;
const container = (service: string) => `${PROJECT}_${service}_1`;
const inspect = async (service: string) => JSON.parse((await daemon.docker(['inspect', container(service)])).stdout)[0];
const healthOf = async (service: string): Promise<string> => {
  const state = (await inspect(service)).State;
  return state.Health?.Status ?? state.Status;
};

/** node's pid in a pgw service's container, after checking that PID 1 is docker-init and node its only child. */
async function nodePid(service: string): Promise<number> {
  const read = async (path: string) => (await daemon.docker(['exec', container(service), 'cat', path])).stdout.trim();
  assert.equal(await read('/proc/1/comm'), 'docker-init', `${service}: PID 1 is the engine's init`);
  const children = (await read('/proc/1/task/1/children')).split(/\s+/).filter(Boolean);
  assert.equal(children.length, 1, `${service}: PID 1's children ${children.join(' ')}`);
  assert.equal(await read(`/proc/${children[0]}/comm`), 'node', `${service}: PID 1's child is node`);
  return Number(children[0]);
}

/** Resolves once every long-running service is healthy, and how long that took. */
async function allHealthy(since: number, timeoutMs = 180_000): Promise<number> {
  await waitFor('every Compose service healthy', timeoutMs, async () => {
    const states = await Promise.all(LONG_RUNNING.map(healthOf));
    return states.every((s) => s === 'healthy');
  }, { intervalMs: 250, retryErrors: true, detail: () => 'see docker-compose ps' });
  return Date.now() - since;
}

describe('Compose deployment on a real Docker Engine in the lab gateway', { timeout: 1_800_000 }, () => {
  before(async () => {
    target = await createDeployLab();
    const { lab } = target;
    daemon = await startDockerDaemon(lab.ns.gateway);
    const started = Date.now();
    const built = await daemon.run(['bash', 'scripts/deploy/build-images.sh'], { cwd: REPO });
    for (const line of built.stdout.split('\n').filter((l) => / image | built /.test(l))) console.log(`# ${line.replace(/\x1b\[[0-9;]*m/g, '')}`);
    console.log(`# compose: images ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    hostGuardDir = join(lab.dir, 'host-guard');
    mkdirSync(hostGuardDir);
    writeFileSync(join(hostGuardDir, 'load-guard.sh'), readFileSync(join(REPO, 'guard/load-guard.sh')));
    writeFileSync(join(hostGuardDir, 'pgw-guard.nft'), `${readFileSync(join(REPO, 'guard/pgw-guard.nft'), 'utf8')}\ntable inet pgw_guard {\n\tchain ${HOST_FILE_MARK} {\n\t}\n}\n`);
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
    target?.prober.close();
    if (daemon) {
      // No env dir: the images never built, so no stack ran (compose() needs it to name its files).
      if (envDir) {
        const logs = await compose(['logs', '--no-color', '--tail', '300'], false).catch(() => undefined);
        if (logs) writeFileSync(join(DEPLOY_CACHE, 'compose-last-run.log'), logs.stdout);
        await compose(['down', '-v', '--timeout', '5'], false).catch(() => undefined);
      }
      await daemon.stop();
    }
    await target?.lab.destroy();
  });

  positiveControl(() => target);

  it('docker-compose up starts every service healthy, with its user, capabilities and a read-only filesystem', async () => {
    await hostSteps();
    const started = Date.now();
    await compose(['up', '-d', '--no-build']);
    const ms = await allHealthy(started);
    console.log(`# compose: stack start (docker-compose up -d to every service healthy) ${(ms / 1000).toFixed(1)} s`);
    const expected = {
      agent: { user: 'root', capAdd: ['NET_ADMIN', 'NET_BIND_SERVICE'], capEff: '0000000000001400' },
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
      // What the kernel says of the running service: node, the only child of PID 1, docker-init (init: true).
      const pid = await nodePid(service);
      const status = (await daemon.docker(['exec', container(service), 'cat', `/proc/${pid}/status`])).stdout;
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
    assert.equal((await target.lab.exec(target.lab.ns.gateway, ['nft', 'list', 'table', 'inet', 'pgw_guard'], { reject: false })).exitCode, 0);
  });

  it("the guard container and the agent's re-load after a flush load the host's guard file, not their images' copies", async () => {
    // The container deletes and re-creates the table: from the image's copy it lost what only the
    // host's file has (an operator's edit of the interface names, here a chain of its own).
    assert.match(await guardTable(), new RegExp(`chain ${HOST_FILE_MARK}`), "the guard one-shot loaded the host's file");
    // The operator edits the file as an editor saves it, a new file renamed over the old (a new
    // inode, which a mount of the file itself would never show the running agent), and reloads.
    const guardFile = join(hostGuardDir, 'pgw-guard.nft');
    writeFileSync(`${guardFile}.new`, readFileSync(guardFile, 'utf8').replace(`chain ${HOST_FILE_MARK} {`, `chain ${HOST_FILE_MARK}_edited {`));
    renameSync(`${guardFile}.new`, guardFile);
    await loadHostGuard();
    await target.lab.exec(target.lab.ns.gateway, ['nft', 'flush', 'ruleset']);
    let listed = '';
    await waitFor('table inet pgw_guard re-loaded by the agent', 15_000, async () => (listed = await guardTable()) !== '', { intervalMs: 100 });
    assert.match(listed, new RegExp(`chain ${HOST_FILE_MARK}_edited`), "the agent re-loaded the host's file as edited");
  });

  it('a mapped client exits through its proxy once mapped through the api (time to all mappings effective)', async () => {
    const started = Date.now();
    await mapThroughApi(target, api);
    await mappingsEffective(target, 90_000);
    console.log(`# compose: mappings created through the api -> effective (the effective client exits through its proxy, the blocked one is refused) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  leakBattery(() => target);

  // docker stop, not kill: a stopped container stays down (unless-stopped) until it is started.
  agentDownFlows(() => target, () => ({
    stop: async () => void (await daemon.docker(['stop', '-t', '20', container('agent')], { timeoutMs: 60_000 })),
    start: async () => void (await daemon.docker(['start', container('agent')])),
    reloadGuard: loadHostGuard,
    localnetWhileDown: '1',
  }));

  it('init: true: `docker-compose stop` of each pgw service, and a stop while it is starting, take well under its grace period', async () => {
    const figures: string[] = [];
    for (const service of SERVICES) {
      let started = Date.now();
      await compose(['stop', service]);
      const stopMs = Date.now() - started;
      // At once after its start, before node installed its SIGTERM handler: as PID 1 that signal was
      // ignored and the engine waited out the grace period; docker-init passes it on to node, which dies of it.
      await daemon.docker(['start', container(service)]);
      started = Date.now();
      await daemon.docker(['stop', '-t', String(GRACE_S[service]), container(service)], { timeoutMs: 60_000 });
      const startingMs = Date.now() - started;
      await daemon.docker(['start', container(service)]);
      figures.push(`${service} ${stopMs} ms, while starting ${startingMs} ms (grace ${GRACE_S[service]} s)`);
      assert.ok(stopMs < GRACE_S[service] * 500, `docker-compose stop ${service} took ${stopMs} ms`);
      assert.ok(startingMs < GRACE_S[service] * 500, `docker stop ${service} while it was starting took ${startingMs} ms`);
    }
    console.log(`# compose: docker-compose stop <service>: ${figures.join(', ')} (${machineLoad()})`);
    await servicesAnswer(target, 60_000);
    await mappingsEffective(target, 30_000);
  });

  it('reboot: the engine restarts with the kernel state of a fresh boot; the stack comes back and enforces the mappings', async () => {
    await daemon.stopEngine();
    // What a reboot leaves: no tables, the kernel's defaults; then the host's boot steps.
    await target.lab.exec(target.lab.ns.gateway, ['nft', 'flush', 'ruleset']);
    for (const key of ['net.ipv4.conf.ens19.route_localnet=0', 'net.ipv4.conf.ens19.forwarding=1', 'net.ipv6.conf.ens19.disable_ipv6=0']) await target.lab.exec(target.lab.ns.gateway, ['sysctl', '-q', '-w', key]);
    await hostSteps();
    const started = Date.now();
    await daemon.startEngine();
    await mappingsEffective(target, 60_000);
    const ms = Date.now() - started;
    console.log(`# compose: reboot (engine start -> every mapping effective) ${(ms / 1000).toFixed(1)} s`);
    const { probes } = target;
    const { result, wan } = await probes.onWan(async () => Promise.all([UNMAPPED, DISABLED].map((src) => probes.tcpToInternet(src))));
    assert.deepEqual(result.map((r) => r.result), ['refused', 'refused']);
    assertNoLeak(wan);
  });
});
