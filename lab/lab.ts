import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startCapture } from './capture.js';
import { dnsServerArgv } from './dns-server.js';
import { echoServerArgv } from './echo-command.js';
import { onProcessExit } from './exit-hooks.js';
import { httpGet } from './http-get.js';
import { execIn, ipBatch, nsArgv } from './netns.js';
import { setprivArgv } from './privileges.js';
import { procStartTime } from './proc.js';
import { spawnProcess } from './process.js';
import { startDante, startTinyproxy } from './proxies.js';
import { startRedis } from './redis.js';
import { stateFile, trustedLabRoot, writeState } from './state.js';
import { ensurePasswordUser, ensureSystemUsers } from './system-users.js';
import { teardownLab, teardownLabSync } from './teardown.js';
import { udpEchoArgv } from './udp-echo.js';
import { ADDR, DEFAULT_PROXIES, PORTS, planTopology, type ProxyPlan } from './topology.js';
import { waitFor, waitProcessPort } from './wait.js';
import type { Capture, Lab, LabDescription, LabOptions, LabProcess, ProxyHandle, RedisHandle, SpawnInLabOptions } from './types.js';

/**
 * Credentials of the lab's authenticating proxies. dante checks them against the system
 * password database, which is shared by every lab on the machine, so they are fixed.
 */
export const LAB_PROXY_CREDENTIALS = { username: 'pgwlabproxy', password: 'pgw-lab-proxy-pass' } as const;

function startLabProxy(plan: ProxyPlan, ns: string, dir: string, detached: boolean): Promise<ProxyHandle> {
  const base = { ns, ip: plan.ip, port: plan.port, dir, detached };
  switch (plan.kind) {
    case 'socks5':
      return startDante(base);
    case 'socks5-auth':
      return startDante({ ...base, auth: { ...LAB_PROXY_CREDENTIALS } });
    case 'http':
      return startTinyproxy(base);
    case 'http-auth':
      return startTinyproxy({ ...base, auth: { ...LAB_PROXY_CREDENTIALS } });
  }
}

/** TCP Fast Open as client (0x1) and server (0x2), also on listeners that do not ask for it (0x400). */
export const PROXY_HOST_FASTOPEN = 0x403;

/**
 * Creates a lab: gateway, LAN and WAN network namespaces, an IP-echo "internet" host,
 * iperf3, real proxies and a private Redis. Everything is removed by destroy(), or on
 * process exit unless options.detached.
 */
export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const progress = options.onProgress ?? (() => undefined);
  const detached = options.detached ?? false;
  const id = randomBytes(3).toString('hex');
  const plan = planTopology(id, options.clients ?? 4, options.proxies ?? DEFAULT_PROXIES);
  const { ns } = plan;
  const dir = join(trustedLabRoot(), id);
  mkdirSync(dir, { mode: 0o755 });

  const processes: LabProcess[] = []; // tracked for state and teardown: root-ns ones (redis) matter most
  const redisProcesses = new Set<LabProcess>();
  const captures = new Set<Capture>();
  const proxies: ProxyHandle[] = [];
  let redis: RedisHandle | undefined;
  let seq = 0;

  const description: LabDescription = {
    id,
    dir,
    ownerPid: process.pid,
    ownerStartTime: procStartTime(process.pid) ?? '',
    namespaces: ns,
    gateway: { lanIface: 'ens19', wanIface: 'eth0', lanIp: plan.gatewayLanIp, lanIp6: ADDR.gatewayLan6, wanIp: ADDR.gatewayWan },
    lan: { iface: 'gw0', clients: plan.clients, clientIp6: ADDR.client6 },
    wan: { iface: 'gw', routerIp: ADDR.wanRouter },
    internet: {
      ip: ADDR.internet,
      httpPort: PORTS.http,
      tcpEchoPort: PORTS.tcpEcho,
      iperfPort: PORTS.iperf,
      echoUrl: `http://${ADDR.internet}:${PORTS.http}/ip`,
      udpEchoPort: PORTS.udpEcho,
    },
    dns: { ip: ADDR.dns, port: PORTS.dns },
    proxies: [],
    redis: { socketPath: join(dir, 'redis.sock') },
    processes: [],
  };

  function save(): void {
    description.processes = processes
      .filter((p) => p.isAlive())
      .map((p) => ({ name: p.name, pid: p.pid, startTime: p.startTime, logFile: p.logFile }));
    description.proxies = proxies.map((p) => ({
      kind: p.kind, ip: p.ip, port: p.port, url: p.url, username: p.username, password: p.password, pid: p.pid,
    }));
    description.redis.pid = redis?.pid;
    writeState(stateFile(dir), description);
  }

  function track(proc: LabProcess): LabProcess {
    processes.push(proc);
    save();
    return proc;
  }

  async function spawnIn(nsName: string, argv: string[], opts: SpawnInLabOptions = {}): Promise<LabProcess> {
    if (opts.caps?.length && !opts.uid) throw new Error('spawn: caps need uid (a root process already has every capability)');
    const name = opts.name ?? `${argv[0]?.split('/').pop() ?? 'process'}-${++seq}`;
    const prefix = opts.uid ? setprivArgv(opts.uid, opts.caps, opts.groups) : [];
    const proc = await spawnProcess(nsArgv(nsName, [...prefix, ...argv]), {
      name,
      logFile: opts.logFile ?? join(dir, `${name}.log`),
      env: { ...process.env, ...opts.env } as Record<string, string>,
      cwd: opts.cwd,
      detached,
    });
    return track(proc);
  }

  let destroyed = false;
  const unhook = detached ? () => false : onProcessExit(() => teardownLabSync({ dir, namespaces: ns, processes: description.processes }));

  async function destroy(): Promise<void> {
    if (destroyed) return;
    destroyed = true;
    await Promise.allSettled([...captures].map((c) => c.stop()));
    // Services first (they may still talk to Redis or the proxies while draining), then the lab's own parts.
    for (const proc of [...processes].reverse()) if (!redisProcesses.has(proc)) await proc.stop(2000);
    await Promise.allSettled(proxies.map((p) => p.stop()));
    await redis?.stop();
    await teardownLab({ dir, namespaces: ns, processes: description.processes });
    unhook();
  }

  try {
    save();
    await ensureSystemUsers();
    if (plan.proxies.some((p) => p.kind.endsWith('-auth'))) {
      await ensurePasswordUser(LAB_PROXY_CREDENTIALS.username, LAB_PROXY_CREDENTIALS.password);
    }
    progress(`lab ${id}: creating namespaces ${ns.gateway}, ${ns.lan}, ${ns.wan}, ${ns.lanHost} (${plan.clients.length} clients)`);
    await ipBatch(undefined, [`netns add ${ns.gateway}`, `netns add ${ns.lan}`, `netns add ${ns.wan}`, `netns add ${ns.lanHost}`]);
    await ipBatch(ns.lanHost, ['link set lo up']);
    await ipBatch(ns.gateway, plan.batches.gateway);
    await Promise.all([
      ipBatch(ns.lan, plan.batches.lan),
      ipBatch(ns.wan, plan.batches.wan),
      execIn(ns.gateway, ['sysctl', '-q', '-w', ...plan.gatewaySysctls]),
      ...(options.proxyHostFastOpen ? [execIn(ns.wan, ['sysctl', '-q', '-w', `net.ipv4.tcp_fastopen=${PROXY_HOST_FASTOPEN}`])] : []),
    ]);

    progress(`lab ${id}: starting redis, echo server, DNS server, UDP echo, iperf3 and ${plan.proxies.length} proxies`);
    const echoArgv = echoServerArgv(ADDR.internet, PORTS.http, PORTS.tcpEcho);
    const startEcho = async () => {
      const echo = await spawnIn(ns.wan, echoArgv, { name: 'echo-server' });
      await waitProcessPort(echo, ns.wan, ADDR.internet, PORTS.http);
      await waitProcessPort(echo, ns.wan, ADDR.internet, PORTS.tcpEcho);
      return echo;
    };
    const startUdpServices = async () => {
      const dns = await spawnIn(ns.wan, dnsServerArgv(ADDR.dns, PORTS.dns), { name: 'dns-server' });
      const udpEcho = await spawnIn(ns.wan, udpEchoArgv(ADDR.internet, PORTS.udpEcho), { name: 'udp-echo' });
      // The DNS server binds UDP and TCP in one tick: its TCP port open means both are.
      await waitProcessPort(dns, ns.wan, ADDR.dns, PORTS.dns);
      await waitFor(`udp-echo bound on ${ADDR.internet}:${PORTS.udpEcho}`, 10_000, async () => {
        if (!udpEcho.isAlive()) throw new Error(`udp-echo exited; see ${udpEcho.logFile}`);
        return (await execIn(ns.wan, ['ss', '-Hlun', 'src', `${ADDR.internet}:${PORTS.udpEcho}`])).stdout.trim() !== '';
      });
    };
    const startIperf = async () => {
      const iperf = await spawnIn(ns.wan, ['iperf3', '-s', '-B', ADDR.internet, '-p', String(PORTS.iperf)], { name: 'iperf3' });
      await waitProcessPort(iperf, ns.wan, ADDR.internet, PORTS.iperf);
    };
    const startProxies = async () => {
      const started = await Promise.allSettled(plan.proxies.map((p) => startLabProxy(p, ns.wan, dir, detached)));
      for (const result of started) if (result.status === 'fulfilled') proxies.push(result.value);
      const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    };
    let echo: LabProcess | undefined;
    // allSettled: on failure, destroy() must only run once every start has finished (nothing left half-started).
    const started = await Promise.allSettled([
      startEcho().then((proc) => {
        echo = proc;
      }),
      startIperf(),
      startUdpServices(),
      startProxies(),
      startRedis({ dir, detached, onStart: (proc) => track(proc) && redisProcesses.add(proc) }).then((handle) => {
        redis = handle;
      }),
    ]);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (detached) {
      // Nothing stays behind in this process: the lab lives as long as its echo server.
      description.ownerPid = echo!.pid;
      description.ownerStartTime = echo!.startTime;
    }
    save();
    progress(`lab ${id}: up`);
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    id,
    dir,
    ns,
    description,
    clients: plan.clients,
    proxies,
    redis: redis!,
    exec: (nsName, argv, opts) => execIn(nsName, argv, opts),
    spawn: spawnIn,
    async capture(opts) {
      const capture = await startCapture(opts, dir, ++seq);
      const tracked: Capture = {
        file: capture.file,
        stop: async () => {
          captures.delete(tracked);
          return capture.stop();
        },
      };
      captures.add(tracked);
      return tracked;
    },
    httpGet,
    async addLanHost(ip, mac) {
      // Created beside gw0 and moved, so it never exists in the machine's own namespace.
      await ipBatch(ns.lan, [`link add lanhost0 link gw0 address ${mac} type macvlan mode bridge`, `link set lanhost0 netns ${ns.lanHost}`]);
      await ipBatch(ns.lanHost, [`addr add ${ip}/24 dev lanhost0`, 'link set lanhost0 up', `route add default via ${plan.gatewayLanIp} dev lanhost0 onlink`]);
      const link = JSON.parse((await execIn(ns.lan, ['ip', '-j', 'link', 'show', 'gw0'])).stdout) as { address: string }[];
      return { clientsMac: link[0]!.address };
    },
    destroy,
  };
}
