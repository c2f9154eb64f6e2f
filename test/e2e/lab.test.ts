import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { cleanupStaleLabs, createLab, echoServerArgv, execIn, LAB_ROOT, waitTcpPort, LAB_PROXY_CREDENTIALS, type Lab, type ProxyHandle } from '../../lab/index.js';
import { waitFor } from '../../lab/wait.js';

const ECHO_URL = 'http://203.0.113.10/ip';

async function echoedIp(lab: Lab, ns: string, opts: { proxyUrl?: string; sourceIp?: string } = {}): Promise<string> {
  const res = await lab.httpGet({ ns, url: ECHO_URL, timeoutMs: 5000, ...opts });
  assert.ok(res.ok, `request failed: ${res.ok ? '' : res.error}`);
  assert.equal(res.status, 200);
  return (JSON.parse(res.body) as { ip: string }).ip;
}

async function namespacesOf(id: string): Promise<string[]> {
  const { stdout } = await execIn(undefined, ['ip', 'netns', 'list']);
  return stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name.endsWith(`-${id}`));
}

describe('lab (4 clients, default proxies)', () => {
  let lab: Lab;
  before(async () => {
    await cleanupStaleLabs();
    // Both tinyproxy kinds share port 3128 on different addresses: each must keep its own config.
    lab = await createLab({ proxies: ['socks5', 'socks5-auth', 'http', 'http-auth'] });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('creates its four namespaces with the documented interfaces', async () => {
    assert.deepEqual((await namespacesOf(lab.id)).sort(), [lab.ns.gateway, lab.ns.lan, lab.ns.lanHost, lab.ns.wan].sort());
    const links = (await lab.exec(lab.ns.gateway, ['ip', '-o', 'link', 'show'])).stdout;
    assert.match(links, /: ens19@/);
    assert.match(links, /: eth0@/);
    const forward = (await lab.exec(lab.ns.gateway, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim();
    assert.equal(forward, '1');
    assert.deepEqual(lab.clients, ['192.168.2.10', '192.168.2.11', '192.168.2.12', '192.168.2.13']);
  });

  it('echo server tells addresses apart: a direct request from the gateway reports 198.51.100.1', async () => {
    assert.equal(await echoedIp(lab, lab.ns.gateway), '198.51.100.1');
  });

  it('each real proxy reaches the echo server, which reports the proxy address, and tcpdump on eth0 sees it', async () => {
    assert.deepEqual(lab.proxies.map((p) => p.kind), ['socks5', 'socks5-auth', 'http', 'http-auth']);
    const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0', filter: 'tcp' });
    for (const proxy of lab.proxies) {
      assert.equal(await echoedIp(lab, lab.ns.gateway, { proxyUrl: proxy.url }), proxy.ip, `through ${proxy.url}`);
    }
    const lines = await capture.stop();
    for (const proxy of lab.proxies) {
      const toProxy = lines.filter((l) => l.includes(`198.51.100.1.`) && l.includes(`> ${proxy.ip}.${proxy.port}:`));
      assert.ok(toProxy.length > 0, `no packet from the gateway to ${proxy.ip}:${proxy.port} in ${lines.length} captured lines`);
    }
  });

  it('the http proxy CONNECTs to a non-443 port (no ConnectPort restriction)', async () => {
    const http = lab.proxies.find((p) => p.kind === 'http') as ProxyHandle;
    const res = await lab.httpGet({ ns: lab.ns.gateway, url: 'http://203.0.113.10:80/nope', proxyUrl: http.url });
    assert.ok(res.ok && res.status === 404, JSON.stringify(res));
  });

  it('dante with auth refuses a wrong password and accepts the right one', async () => {
    const dante = lab.proxies.find((p) => p.kind === 'socks5-auth') as ProxyHandle;
    assert.equal(dante.username, LAB_PROXY_CREDENTIALS.username);
    const wrong = await lab.httpGet({ ns: lab.ns.gateway, url: ECHO_URL, proxyUrl: `socks5://${dante.username}:wrong-password@${dante.ip}:${dante.port}` });
    assert.equal(wrong.ok, false);
    const none = await lab.httpGet({ ns: lab.ns.gateway, url: ECHO_URL, proxyUrl: `socks5://${dante.ip}:${dante.port}` });
    assert.equal(none.ok, false);
    assert.equal(await echoedIp(lab, lab.ns.gateway, { proxyUrl: dante.url }), dante.ip);
  });

  it("dante's user is hashed with SHA-512, not yescrypt: a login costs the proxy ~1 ms, not a round trip of bench:rtt", async () => {
    const { stdout } = await execIn(undefined, ['getent', 'shadow', LAB_PROXY_CREDENTIALS.username]);
    const hash = stdout.split(':')[1] ?? '';
    assert.match(hash, /^\$6\$/, `${LAB_PROXY_CREDENTIALS.username}'s password hash is not SHA-512 (it starts ${JSON.stringify(hash.slice(0, 4))})`);
  });

  it("dante's user cannot log in to the host: its account is expired (its password is in the repository), dante accepts it all the same (above)", async () => {
    const { stdout } = await execIn(undefined, ['getent', 'shadow', LAB_PROXY_CREDENTIALS.username]);
    // Field 8: the account's expiry in days since 1970-01-01; PAM's account check and sshd refuse it from then on.
    assert.equal(stdout.trim().split(':')[7], '1', `${LAB_PROXY_CREDENTIALS.username}'s shadow entry: ${stdout.trim().replace(/:\$6\$[^:]*/, ':<hash>')}`);
  });

  it('a proxy can be killed and started again', async () => {
    const socks = lab.proxies.find((p) => p.kind === 'socks5') as ProxyHandle;
    await socks.kill();
    assert.equal(socks.pid, undefined);
    const refused = await lab.httpGet({ ns: lab.ns.gateway, url: ECHO_URL, proxyUrl: socks.url, timeoutMs: 2000 });
    assert.equal(refused.ok, false);
    await socks.start();
    assert.equal(await echoedIp(lab, lab.ns.gateway, { proxyUrl: socks.url }), socks.ip);
  });

  it('without pgw the gateway forwards LAN traffic (positive control for leak tests)', async () => {
    assert.equal(await echoedIp(lab, lab.ns.lan, { sourceIp: '192.168.2.11' }), '192.168.2.11');
  });

  it('IPv6 is on for the LAN link: the gateway answers fd00:2::10 (a refused connection proves reachability)', async () => {
    assert.equal((await lab.exec(lab.ns.lan, ['sysctl', '-n', 'net.ipv6.conf.gw0.disable_ipv6'])).stdout.trim(), '0');
    const probe = await lab.exec(lab.ns.lan, ['timeout', '3', 'bash', '-c', 'exec 3<>/dev/tcp/fd00:2::1/9'], { reject: false });
    assert.match(probe.stderr, /Connection refused/, `expected a TCP reset from the gateway, got: ${probe.stderr}`);
  });

  it('TCP echo port echoes bytes', async () => {
    const script = 'exec 3<>/dev/tcp/203.0.113.10/7; printf hello-lab >&3; head -c 9 <&3';
    const { stdout } = await lab.exec(lab.ns.gateway, ['timeout', '5', 'bash', '-c', script]);
    assert.equal(stdout, 'hello-lab');
  });

  it('redis answers on its unix socket from inside the gateway ns and can be taken down', async () => {
    const ping = ['redis-cli', '-s', lab.redis.socketPath, 'ping'];
    assert.equal((await lab.exec(lab.ns.gateway, ping)).stdout.trim(), 'PONG');
    await lab.redis.stop();
    assert.notEqual((await lab.exec(lab.ns.gateway, ping, { reject: false })).stdout.trim(), 'PONG');
    await lab.redis.start();
    assert.equal((await lab.exec(lab.ns.gateway, ping)).stdout.trim(), 'PONG');
  });

  it('spawns a process as user pgw with only net_admin', async () => {
    const proc = await lab.spawn(lab.ns.gateway, ['bash', '-c', 'grep -E "^(Uid|CapAmb|CapBnd)" /proc/self/status; sleep 30'], {
      uid: 'pgw',
      caps: ['net_admin'],
      name: 'caps-probe',
    });
    const { readFile } = await import('node:fs/promises');
    const log = await waitFor('caps-probe to print its CapBnd', 5000, async () => {
      const text = await readFile(proc.logFile, 'utf8');
      return text.includes('CapBnd') && text;
    });
    const uid = (await execIn(undefined, ['id', '-u', 'pgw'])).stdout.trim();
    assert.match(log, new RegExp(`Uid:\\s+${uid}\\s`));
    assert.match(log, /CapAmb:\s+0000000000001000/); // CAP_NET_ADMIN = bit 12
    assert.match(log, /CapBnd:\s+0000000000001000/);
    await proc.stop();
  });

  it('destroy() leaves no namespace, process or directory behind', async () => {
    const pids = lab.proxies.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
    await lab.destroy();
    assert.deepEqual(await namespacesOf(lab.id), []);
    assert.equal(existsSync(lab.dir), false);
    for (const pid of pids) assert.equal(existsSync(`/proc/${pid}`), false, `proxy pid ${pid} still running`);
  });
});

describe('lab with 256 clients (the whole /24)', () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({ clients: 256, proxies: ['socks5'] });
  });
  after(async () => {
    await lab?.destroy();
  });

  it('clients .0 and .255 reach the gateway and, forwarded, the echo server', async () => {
    assert.equal(lab.clients.length, 256);
    assert.equal(lab.clients[0], '192.168.2.0');
    assert.equal(lab.clients[255], '192.168.2.255');
    // A server on the gateway's own LAN address (no ping binary on this machine): it echoes the client address too.
    await lab.spawn(lab.ns.gateway, echoServerArgv('169.254.2.1', 8080, 8007), { name: 'gateway-echo' });
    await waitTcpPort(lab.ns.gateway, '169.254.2.1', 8080, 10_000);
    for (const ip of ['192.168.2.0', '192.168.2.255']) {
      const res = await lab.httpGet({ ns: lab.ns.lan, url: 'http://169.254.2.1:8080/ip', sourceIp: ip });
      assert.ok(res.ok, `from ${ip}: ${res.ok ? '' : res.error}`);
      assert.equal(JSON.parse(res.body).ip, ip);
      assert.equal(await echoedIp(lab, lab.ns.lan, { sourceIp: ip }), ip);
    }
  });
});

describe('lab cleanup when its owner dies', () => {
  const libraryUrl = new URL('../../lab/index.ts', import.meta.url).href;
  const ownerScript =
    `import { createLab } from ${JSON.stringify(libraryUrl)};` +
    `const lab = await createLab({ proxies: ['socks5'] });` +
    `console.log(lab.id); setInterval(() => undefined, 1000);`;

  async function startOwner(): Promise<{ child: ChildProcess; id: string }> {
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', ownerScript], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
      assert.match(line, /^[0-9a-f]{6}$/);
      assert.equal((await namespacesOf(line)).length, 4);
      return { child, id: line };
    } catch (error) {
      // The owner never exits on its own: a failed check must not leave it (and its lab) running.
      child.kill('SIGTERM');
      throw error;
    }
  }

  it('SIGTERM to the owner runs the exit hook: namespaces and dir are gone', async () => {
    const { child, id } = await startOwner();
    child.kill('SIGTERM');
    await once(child, 'exit');
    assert.deepEqual(await namespacesOf(id), []);
    assert.equal(existsSync(`${LAB_ROOT}/${id}`), false);
  });

  it('SIGKILL leaves the lab behind; cleanupStaleLabs() removes it and spares live labs', async () => {
    const live = await createLab({ proxies: [] });
    try {
      const { child, id } = await startOwner();
      child.kill('SIGKILL');
      await once(child, 'exit');
      assert.equal((await namespacesOf(id)).length, 4, 'positive control: SIGKILL cannot run exit hooks');
      const removed = await cleanupStaleLabs();
      assert.ok(removed.includes(id), `removed ${JSON.stringify(removed)}`);
      assert.ok(!removed.includes(live.id));
      assert.deepEqual(await namespacesOf(id), []);
      assert.equal((await namespacesOf(live.id)).length, 4);
    } finally {
      await live.destroy();
    }
  });
});
