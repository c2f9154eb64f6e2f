// TCP Fast Open on the forwarder's cold dials (issue 12.4), in the lab: the proxies' host (the WAN
// namespace) accepts Fast Open on every listener (the lab's proxyHostFastOpen: dante and tinyproxy
// set no socket option for it), the gateway's namespace keeps the kernel default (client on). Proves
// that once the proxy's host has given a cookie the CONNECT (HTTP) or the greeting and CONNECT
// (SOCKS5) go in the SYN and the proxy takes them there, that a client's own bytes never do (SOCKS5
// early data goes once the connection is up, counted once), that the switch turns it off, and that
// a proxy host that stops taking Fast Open still carries every client.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createLab, type Lab, PROXY_HOST_FASTOPEN, type ProxyHandle, readTcpExt as tcpExt } from '../../lab/index.js';
import { eventually } from '../../lab/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT } from '../support/gateway.js';
import { scrapeMetrics } from '../bench/forwarder/gateway-probes.js';
import { LanClient } from '../bench/forwarder/lan-client-handle.js';

const METRICS_PORT = 9102;
const CLIENTS = { socks5: '192.168.2.10', httpAuth: '192.168.2.11' } as const;

let lab: Lab;
let tdb: TestDatabase;
let gateway: Gateway;
let lan: LanClient;

/** A SYN (no ACK) the gateway sent, as tcpdump decoded it: where to, how many payload bytes, the payload as ASCII. */
interface Syn {
  dstPort: number;
  length: number;
  ascii: string;
}

function proxy(kind: ProxyHandle['kind']): ProxyHandle {
  const found = lab.proxies.find((p) => p.kind === kind);
  if (!found) throw new Error(`lab has no ${kind} proxy`);
  return found;
}

async function exitIpVia(client: string): Promise<string> {
  const { echoUrl } = lab.description.internet;
  const result = await lab.httpGet({ ns: lab.ns.lan, url: echoUrl, sourceIp: client, timeoutMs: 3000 });
  if (!result.ok) throw new Error(`GET ${echoUrl} from ${client}: ${result.error}`);
  return (JSON.parse(result.body) as { ip: string }).ip;
}

/** Runs `work` while capturing the SYNs the gateway sends on its WAN side; returns them decoded. */
async function synsDuring(work: () => Promise<void>): Promise<Syn[]> {
  const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0', filter: 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' });
  try {
    await work();
  } finally {
    await capture.stop();
  }
  const decoded = execFileSync('tcpdump', ['-nn', '-A', '-r', capture.file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const syns: Syn[] = [];
  for (const line of decoded.split('\n')) {
    const header = / > [\d.]+\.(\d+): Flags \[S\].* length (\d+)/.exec(line);
    if (header !== null) syns.push({ dstPort: Number(header[1]), length: Number(header[2]), ascii: '' });
    else if (syns.length > 0) syns.at(-1)!.ascii += `${line}\n`;
  }
  return syns;
}

async function bytesUp(): Promise<number> {
  const line = (await scrapeMetrics(lab.ns.gateway, METRICS_PORT)).split('\n').find((l) => l.startsWith('pgw_forwarder_bytes_total{') && l.includes('direction="up"'));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

describe('forwarder: TCP Fast Open to the proxies (lab, real dante and tinyproxy)', { timeout: 300_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 240_000 });
    lab = await createLab({ clients: 2, proxies: ['socks5', 'http-auth'], proxyHostFastOpen: true });
    tdb = await createTestDatabase({ prefix: 'pgw_tfo' });
    // Warm pool off: every client connection is a cold dial, the one Fast Open is for.
    gateway = new Gateway(lab, tdb, { env: { forwarder: { PGW_FORWARDER_WARM_POOL: 'false' } } });
    // dante as the health probe learns it: the client's first bytes go with the CONNECT (early data).
    const socks5 = await gateway.seedProxy(proxy('socks5'), { status: 'up', handshakeLearned: 'early-data' });
    const httpAuth = await gateway.seedProxy(proxy('http-auth'), { status: 'up' });
    await gateway.seedMapping(CLIENTS.socks5, socks5, 20010);
    await gateway.seedMapping(CLIENTS.httpAuth, httpAuth, 20011);
    await gateway.start('agent');
    await gateway.start('forwarder');
    lan = new LanClient(lab.ns.lan);
    await lan.ready;
    await eventually('both clients effective', async () => (await exitIpVia(CLIENTS.socks5)) === proxy('socks5').ip && (await exitIpVia(CLIENTS.httpAuth)) === proxy('http-auth').ip, 15_000);
  });

  after(async () => {
    lan?.close();
    await gateway?.destroy();
    await lab?.destroy();
    await tdb?.drop();
  });

  it('sends the HTTP CONNECT, and the SOCKS5 greeting with its CONNECT, in the SYN; never a client byte', async () => {
    const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
    const active = await tcpExt(lab.ns.gateway, 'TCPFastOpenActive');
    const syns = await synsDuring(async () => {
      for (let i = 0; i < 4; i++) {
        assert.equal(await exitIpVia(CLIENTS.httpAuth), proxy('http-auth').ip);
        assert.equal(await exitIpVia(CLIENTS.socks5), proxy('socks5').ip);
      }
    });
    for (const kind of ['http-auth', 'socks5'] as const) {
      const toProxy = syns.filter((s) => s.dstPort === proxy(kind).port);
      assert.ok(toProxy.length >= 4, `${kind}: ${toProxy.length} SYNs captured`);
      // The cookie came with the setup's first dials: every one here carries the request.
      const withData = toProxy.filter((s) => s.length > 0);
      assert.equal(withData.length, toProxy.length, `${kind}: SYN payload lengths ${toProxy.map((s) => s.length).join(', ')}`);
      for (const syn of withData) assert.ok(!syn.ascii.includes('GET /'), `${kind}: a client byte rode the SYN:\n${syn.ascii}`);
    }
    assert.ok(syns.some((s) => s.dstPort === proxy('http-auth').port && s.ascii.includes('CONNECT ')), 'the HTTP CONNECT is in the SYN');
    // The proxies' host took the data with the SYN (not after the handshake): 8 dials.
    assert.ok((await tcpExt(lab.ns.wan, 'TCPFastOpenPassive')) - passive >= 8, 'TCPFastOpenPassive on the proxies\' host');
    assert.ok((await tcpExt(lab.ns.gateway, 'TCPFastOpenActive')) - active >= 8, 'TCPFastOpenActive on the gateway');
  });

  it('SOCKS5 early data over a Fast Open dial: 1 MiB echoes intact and every byte is counted once', async () => {
    const { ip, tcpEchoPort } = lab.description.internet;
    const before = await bytesUp();
    await lan.run({ op: 'echo', src: CLIENTS.socks5, host: ip, port: tcpEchoPort, bytes: 1 << 20, halfClose: true, timeoutMs: 10_000 });
    let counted = 0;
    await eventually('pgw_forwarder_bytes_total up to count the MiB', async () => (counted = (await bytesUp()) - before) === 1 << 20).catch(() => assert.equal(counted, 1 << 20, 'bytes counted up'));
  });

  it('a proxy host that stops taking Fast Open (its cookie still cached here) carries every client', async () => {
    await lab.exec(lab.ns.wan, ['sysctl', '-q', '-w', 'net.ipv4.tcp_fastopen=1']);
    try {
      const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
      for (let i = 0; i < 3; i++) {
        assert.equal(await exitIpVia(CLIENTS.httpAuth), proxy('http-auth').ip);
        assert.equal(await exitIpVia(CLIENTS.socks5), proxy('socks5').ip);
      }
      assert.equal(await tcpExt(lab.ns.wan, 'TCPFastOpenPassive'), passive, 'no SYN data taken with Fast Open off');
    } finally {
      await lab.exec(lab.ns.wan, ['sysctl', '-q', '-w', `net.ipv4.tcp_fastopen=${PROXY_HOST_FASTOPEN}`]);
    }
  });

  it('PGW_FORWARDER_TCP_FASTOPEN=false: no SYN carries data', async () => {
    await gateway.stop('forwarder');
    await gateway.start('forwarder', { PGW_FORWARDER_TCP_FASTOPEN: 'false' });
    try {
      await eventually('the http client effective again', async () => (await exitIpVia(CLIENTS.httpAuth)) === proxy('http-auth').ip, 15_000);
      const syns = await synsDuring(async () => {
        for (let i = 0; i < 3; i++) {
          assert.equal(await exitIpVia(CLIENTS.httpAuth), proxy('http-auth').ip);
          assert.equal(await exitIpVia(CLIENTS.socks5), proxy('socks5').ip);
        }
      });
      const toProxies = syns.filter((s) => s.dstPort === proxy('http-auth').port || s.dstPort === proxy('socks5').port);
      assert.ok(toProxies.length >= 6, `${toProxies.length} SYNs captured`);
      assert.deepEqual(toProxies.map((s) => s.length).filter((n) => n > 0), [], 'SYN payload lengths');
    } finally {
      await gateway.stop('forwarder');
      await gateway.start('forwarder');
    }
  });
});
