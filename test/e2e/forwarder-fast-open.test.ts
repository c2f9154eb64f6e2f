// TCP Fast Open on the forwarder's cold dials (issue 12.4), in the lab: the proxies' host (the WAN
// namespace) accepts Fast Open on every listener (the lab's proxyHostFastOpen: dante and tinyproxy
// set no socket option for it), the gateway's namespace keeps the kernel default (client on). Proves
// that once the proxy's host has given a cookie the CONNECT (HTTP) or the greeting and CONNECT
// (SOCKS5) go in the SYN, exactly, and the proxy takes them there; that a client's own bytes never
// do (SOCKS5 early data goes once the connection is up, all of it, counted once); that a request
// longer than a SYN holds goes on after it; that a proxy answering and resetting before the dial
// sees the connection up is worded by its answer; that a host that stops taking Fast Open still
// carries every client; and that the switch turns it off.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createLab, type Lab, PROXY_HOST_FASTOPEN, readTcpExt as tcpExt, waitTcpPort } from '../../lab/index.js';
import { eventually } from '../../lab/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT } from '../support/gateway.js';
import { scrapeMetrics } from '../bench/forwarder/gateway-probes.js';
import { metricSum } from '../support/prometheus-text.js';
import { LanClient } from '../bench/forwarder/lan-client-handle.js';
import { exitIpVia, labProxy } from './lab-exits.js';

const METRICS_PORT = 9102;
const CLIENTS = { socks5: '192.168.2.10', httpAuth: '192.168.2.11' } as const;
const PEERS = fileURLToPath(new URL('./fast-open-peers.ts', import.meta.url));
/** Test servers on dante's address (fast-open-peers.ts server). */
const REFUSING_PORT = 1998;
const HEAD_PORT = 1997;

let lab: Lab;
let tdb: TestDatabase;
let gateway: Gateway;
let lan: LanClient;

/** A SYN (no ACK) the gateway sent, decoded from the capture: where to, and its payload. */
interface Syn {
  dstPort: number;
  payload: Buffer;
}

/** Runs `work` while capturing the SYNs the gateway sends on its WAN side; returns them with their payloads (tcpdump -x: the IP packet in hex). */
async function synsDuring(work: () => Promise<void>): Promise<Syn[]> {
  const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0', filter: 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' });
  try {
    await work();
  } finally {
    await capture.stop();
  }
  const decoded = execFileSync('tcpdump', ['-nn', '-x', '-r', capture.file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const packets: { dstPort: number; hex: string }[] = [];
  for (const line of decoded.split('\n')) {
    const header = / > [\d.]+\.(\d+): Flags \[S\]/.exec(line);
    if (header !== null) packets.push({ dstPort: Number(header[1]), hex: '' });
    else if (packets.length > 0 && /^\s+0x[0-9a-f]+:/.test(line)) packets.at(-1)!.hex += line.replace(/^\s+0x[0-9a-f]+:/, '').replace(/\s+/g, '');
  }
  return packets.map(({ dstPort, hex }) => {
    const ip = Buffer.from(hex, 'hex');
    const tcpAt = (ip[0]! & 0x0f) * 4;
    return { dstPort, payload: ip.subarray(tcpAt + (ip[tcpAt + 12]! >> 4) * 4) };
  });
}

async function bytesUp(): Promise<number> {
  return metricSum(await scrapeMetrics(lab.ns.gateway, METRICS_PORT), 'pgw_forwarder_bytes_total', { direction: 'up' });
}

/** The forwarder's native dial run from the gateway namespace (fast-open-peers.ts dial): its JSON outcome. */
async function dialFromGateway(args: { url: string; target: { host: string; port: number }; blockMs: number; early?: string; headBytes?: number }): Promise<Record<string, unknown>> {
  const run = await lab.exec(lab.ns.gateway, [process.execPath, '--conditions=pgw-source', '--import', 'tsx', PEERS, 'dial', JSON.stringify(args)], { timeoutMs: 30_000 });
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

describe('forwarder: TCP Fast Open to the proxies (lab, real dante and tinyproxy)', { timeout: 300_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 240_000 });
    lab = await createLab({ clients: 2, proxies: ['socks5', 'http-auth'], proxyHostFastOpen: true });
    tdb = await createTestDatabase({ prefix: 'pgw_tfo' });
    // Warm pool off: every client connection is a cold dial, the one Fast Open is for.
    gateway = new Gateway(lab, tdb, { env: { forwarder: { PGW_FORWARDER_WARM_POOL: 'false' } } });
    // dante as the health probe learns it: the client's first bytes go with the CONNECT (early data).
    const socks5 = await gateway.seedProxy(labProxy(lab, 'socks5'), { status: 'up', handshakeLearned: 'early-data' });
    const httpAuth = await gateway.seedProxy(labProxy(lab, 'http-auth'), { status: 'up' });
    await gateway.seedMapping(CLIENTS.socks5, socks5, 20010);
    await gateway.seedMapping(CLIENTS.httpAuth, httpAuth, 20011);
    for (const [port, behaviour] of [[REFUSING_PORT, 'refuse-auth-reset'], [HEAD_PORT, 'head-answer']] as const) {
      await lab.spawn(lab.ns.wan, [process.execPath, '--import', 'tsx', PEERS, 'server', labProxy(lab, 'socks5').ip, String(port), behaviour], { name: behaviour, cwd: REPO_ROOT });
      await waitTcpPort(lab.ns.wan, labProxy(lab, 'socks5').ip, port, 20_000);
    }
    await gateway.start('agent');
    await gateway.start('forwarder');
    lan = new LanClient(lab.ns.lan);
    await lan.ready;
    await eventually('both clients effective', async () => (await exitIpVia(lab, CLIENTS.socks5)) === labProxy(lab, 'socks5').ip && (await exitIpVia(lab, CLIENTS.httpAuth)) === labProxy(lab, 'http-auth').ip, 15_000);
  });

  after(async () => {
    lan?.close();
    await gateway?.destroy();
    await lab?.destroy();
    await tdb?.drop();
  });

  it('sends the HTTP CONNECT, and the SOCKS5 greeting with its CONNECT, in the SYN, exactly: never a client byte', async () => {
    const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
    const active = await tcpExt(lab.ns.gateway, 'TCPFastOpenActive');
    const syns = await synsDuring(async () => {
      for (let i = 0; i < 4; i++) {
        assert.equal(await exitIpVia(lab, CLIENTS.httpAuth), labProxy(lab, 'http-auth').ip);
        assert.equal(await exitIpVia(lab, CLIENTS.socks5), labProxy(lab, 'socks5').ip);
      }
    });
    const { ip, httpPort } = lab.description.internet;
    // The setup's first dials fetched the cookies: every dial here carries its request.
    const toDante = syns.filter((s) => s.dstPort === labProxy(lab, 'socks5').port);
    assert.equal(toDante.length, 4, `${toDante.length} SYNs to dante`);
    const connect = Buffer.from([5, 1, 0, 1, ...ip.split('.').map(Number), httpPort >> 8, httpPort & 0xff]);
    // The greeting offering "no auth" (05 01 00), then the CONNECT to the target: nothing after it.
    for (const syn of toDante) assert.deepEqual(syn.payload, Buffer.concat([Buffer.from([5, 1, 0]), connect]), `SYN payload to dante: ${syn.payload.toString('hex')}`);
    const toTinyproxy = syns.filter((s) => s.dstPort === labProxy(lab, 'http-auth').port);
    assert.equal(toTinyproxy.length, 4, `${toTinyproxy.length} SYNs to tinyproxy`);
    for (const syn of toTinyproxy) {
      const text = syn.payload.toString('latin1');
      assert.match(text, new RegExp(`^CONNECT ${ip.replaceAll('.', '\\.')}:${httpPort} HTTP/1\\.1\\r\\n`), text);
      assert.equal(text.indexOf('\r\n\r\n'), text.length - 4, `one request head and nothing after it: ${JSON.stringify(text)}`);
    }
    // The proxies' host took the data with the SYN (not after the handshake): 8 dials.
    assert.ok((await tcpExt(lab.ns.wan, 'TCPFastOpenPassive')) - passive >= 8, "TCPFastOpenPassive on the proxies' host");
    assert.ok((await tcpExt(lab.ns.gateway, 'TCPFastOpenActive')) - active >= 8, 'TCPFastOpenActive on the gateway');
  });

  it('no cookie yet (a proxy host not asked before): the SYN asks for one and carries nothing, the request and the early data follow the handshake', async () => {
    // The gateway forgets every cookie: each proxy's next dial is a first one. The kernel then
    // sends a SYN with an empty cookie option and the dial's first send() returns EINPROGRESS
    // (upstream_dial.cc, Flush): the whole request must go once the connection is up.
    await lab.exec(lab.ns.gateway, ['ip', 'tcp_metrics', 'flush', 'all']);
    const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
    const before = await bytesUp();
    const syns = await synsDuring(async () => {
      assert.equal(await exitIpVia(lab, CLIENTS.httpAuth), labProxy(lab, 'http-auth').ip);
      assert.equal(await exitIpVia(lab, CLIENTS.socks5), labProxy(lab, 'socks5').ip);
    });
    const toProxies = syns.filter((s) => s.dstPort === labProxy(lab, 'http-auth').port || s.dstPort === labProxy(lab, 'socks5').port);
    assert.equal(toProxies.length, 2, `${toProxies.length} SYNs to the proxies`);
    assert.deepEqual(toProxies.map((s) => s.payload.length), [0, 0], 'SYN payload lengths without a cookie');
    assert.equal(await tcpExt(lab.ns.wan, 'TCPFastOpenPassive'), passive, 'no data taken with a SYN');
    const firstUp = (await bytesUp()) - before;
    // The same two GETs again, now with the cookies the first dials fetched: their requests ride
    // the SYNs, and the clients' bytes counted up are the same (the SOCKS5 GET went once as early
    // data after the handshake above: neither lost nor sent twice).
    const between = await bytesUp();
    const again = await synsDuring(async () => {
      assert.equal(await exitIpVia(lab, CLIENTS.httpAuth), labProxy(lab, 'http-auth').ip);
      assert.equal(await exitIpVia(lab, CLIENTS.socks5), labProxy(lab, 'socks5').ip);
    });
    const againToProxies = again.filter((s) => s.dstPort === labProxy(lab, 'http-auth').port || s.dstPort === labProxy(lab, 'socks5').port);
    assert.equal(againToProxies.filter((s) => s.payload.length > 0).length, 2, 'the cookies fetched by the first dials are used by the next');
    assert.equal((await bytesUp()) - between, firstUp, 'client bytes up: first dials vs dials with a cookie');
  });

  it("SOCKS5 early data over a Fast Open dial: the client's bytes go once the connection is up, all of them, taken off its socket", async () => {
    const { ip, tcpEchoPort } = lab.description.internet;
    const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
    const early = 'hello before the CONNECT reply';
    let got: Record<string, unknown> = {};
    // The client's bytes are in its socket before the dial starts: still, none rides the SYN.
    const syns = await synsDuring(async () => {
      got = await dialFromGateway({ url: labProxy(lab, 'socks5').url, target: { host: ip, port: tcpEchoPort }, blockMs: 0, early });
    });
    assert.deepEqual({ ok: got.ok, earlyBytes: got.earlyBytes, clientLeft: got.clientLeft }, { ok: true, earlyBytes: early.length, clientLeft: '' }, JSON.stringify(got));
    const connect = Buffer.from([5, 1, 0, 5, 1, 0, 1, ...ip.split('.').map(Number), tcpEchoPort >> 8, tcpEchoPort & 0xff]);
    const carrying = syns.filter((s) => s.dstPort === labProxy(lab, 'socks5').port && s.payload.length > 0);
    assert.ok(carrying.length >= 1, 'a SYN carried the handshake');
    for (const syn of carrying) assert.deepEqual(syn.payload, connect, `SYN payload: ${syn.payload.toString('hex')}`);
    assert.ok((await tcpExt(lab.ns.wan, 'TCPFastOpenPassive')) - passive >= 1, 'the dial went with Fast Open');
  });

  it('through the forwarder, 1 MiB echoes intact over Fast Open dials with early data, every byte counted once', async () => {
    const { ip, tcpEchoPort } = lab.description.internet;
    const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
    const before = await bytesUp();
    await lan.run({ op: 'echo', src: CLIENTS.socks5, host: ip, port: tcpEchoPort, bytes: 1 << 20, halfClose: true, timeoutMs: 10_000 });
    let counted = 0;
    await eventually('pgw_forwarder_bytes_total up to count the MiB', async () => (counted = (await bytesUp()) - before) === 1 << 20).catch(() => assert.equal(counted, 1 << 20, 'bytes counted up'));
    assert.ok((await tcpExt(lab.ns.wan, 'TCPFastOpenPassive')) - passive >= 1, 'the dial went with Fast Open');
  });

  it('a CONNECT longer than a SYN holds: the rest follows once the connection is up', async () => {
    const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
    // A 4 KiB head: a SYN carries one segment at most (about 1.4 KiB here).
    const url = `http://${labProxy(lab, 'socks5').ip}:${HEAD_PORT}`;
    const got = await dialFromGateway({ url, target: { host: lab.description.internet.ip, port: 80 }, blockMs: 0, headBytes: 4096 });
    assert.deepEqual({ ok: got.ok, leftover: got.leftover }, { ok: true, leftover: 'got 4096' }, `the proxy read the whole head: ${JSON.stringify(got)}`);
    assert.ok((await tcpExt(lab.ns.wan, 'TCPFastOpenPassive')) - passive >= 1, 'the dial went with Fast Open');
  });

  it('a proxy that refuses the auth and resets before the dial has seen the connection up: the refusal is named, not a connect failure', async () => {
    const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
    const url = `socks5://user:secret@${labProxy(lab, 'socks5').ip}:${REFUSING_PORT}`;
    // The event loop is kept busy 300 ms after the dial starts: SYN-ACK, refusal and reset all arrive first.
    const got = await dialFromGateway({ url, target: { host: lab.description.internet.ip, port: 80 }, blockMs: 300 });
    assert.equal(got.ok, false, JSON.stringify(got));
    assert.equal(got.step, 'auth', JSON.stringify(got));
    assert.match(String(got.message), /SOCKS5 auth: proxy rejected the username\/password/);
    assert.ok((await tcpExt(lab.ns.wan, 'TCPFastOpenPassive')) - passive >= 1, 'the dial went with Fast Open');
  });

  it("the warm pool opens its SOCKS5 connections with the greeting in the SYN", async () => {
    await gateway.withRestarted('forwarder', { PGW_FORWARDER_WARM_POOL: 'true' }, async () => {
      await eventually('the socks5 client effective again', async () => (await exitIpVia(lab, CLIENTS.socks5)) === labProxy(lab, 'socks5').ip, 15_000);
      const syns = await synsDuring(async () => {
        // Each take refills the pool: warm connections opened while this runs.
        for (let i = 0; i < 4; i++) {
          assert.equal(await exitIpVia(lab, CLIENTS.socks5), labProxy(lab, 'socks5').ip);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      });
      const toDante = syns.filter((s) => s.dstPort === labProxy(lab, 'socks5').port);
      // A warm open's SYN carries the greeting alone (05 01 00: no auth); a client's cold dial's, the greeting and its CONNECT.
      const warmOpens = toDante.filter((s) => s.payload.equals(Buffer.from([5, 1, 0])));
      assert.ok(warmOpens.length >= 1, `SYN payloads to dante: ${toDante.map((s) => s.payload.toString('hex') || '(none)').join(', ')}`);
    });
  });

  it('a proxy host that stops taking Fast Open (its cookie still cached here) carries every client', async () => {
    await lab.exec(lab.ns.wan, ['sysctl', '-q', '-w', 'net.ipv4.tcp_fastopen=1']);
    try {
      const passive = await tcpExt(lab.ns.wan, 'TCPFastOpenPassive');
      const failed = await tcpExt(lab.ns.gateway, 'TCPFastOpenActiveFail');
      for (let i = 0; i < 3; i++) {
        assert.equal(await exitIpVia(lab, CLIENTS.httpAuth), labProxy(lab, 'http-auth').ip);
        assert.equal(await exitIpVia(lab, CLIENTS.socks5), labProxy(lab, 'socks5').ip);
      }
      assert.equal(await tcpExt(lab.ns.wan, 'TCPFastOpenPassive'), passive, 'no SYN data taken with Fast Open off');
      // The gateway still sent the requests in SYNs (its cookies), which the host did not take: sent again after the handshake.
      assert.ok((await tcpExt(lab.ns.gateway, 'TCPFastOpenActiveFail')) - failed >= 6, 'TCPFastOpenActiveFail on the gateway');
    } finally {
      await lab.exec(lab.ns.wan, ['sysctl', '-q', '-w', `net.ipv4.tcp_fastopen=${PROXY_HOST_FASTOPEN}`]);
    }
  });

  it('PGW_FORWARDER_TCP_FASTOPEN=false: no SYN carries data', async () => {
    await gateway.withRestarted('forwarder', { PGW_FORWARDER_TCP_FASTOPEN: 'false' }, async () => {
      await eventually('the http client effective again', async () => (await exitIpVia(lab, CLIENTS.httpAuth)) === labProxy(lab, 'http-auth').ip, 15_000);
      const syns = await synsDuring(async () => {
        for (let i = 0; i < 3; i++) {
          assert.equal(await exitIpVia(lab, CLIENTS.httpAuth), labProxy(lab, 'http-auth').ip);
          assert.equal(await exitIpVia(lab, CLIENTS.socks5), labProxy(lab, 'socks5').ip);
        }
      });
      const toProxies = syns.filter((s) => s.dstPort === labProxy(lab, 'http-auth').port || s.dstPort === labProxy(lab, 'socks5').port);
      assert.equal(toProxies.length, 6, `${toProxies.length} SYNs captured`);
      assert.deepEqual(toProxies.map((s) => s.payload.length).filter((n) => n > 0), [], 'SYN payload lengths');
    });
  });
});
