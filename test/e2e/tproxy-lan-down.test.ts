// TPROXY mode with the LAN link gone (ip link set ens19 down: a cable, an ifdown, a networkd
// restart). The forwarder's side of a client's connection is a transparent socket that sends as
// the remote host; with the LAN's route gone, its packets to the client took the default route
// and left by eth0: the relayed data, addressed to the client's LAN address, on the WAN. DNAT mode
// is safe by itself (those sockets send from 127.0.0.1, which the kernel keeps off other
// interfaces). Real agent, forwarder, dante; strict OUTPUT off (it let the agent-made UDP reply
// sockets out anyway: root's).
// Then the sockets the agent hands the forwarder, in a compromised forwarder's hands: a UDP reply
// socket is bound to a remote host's address and connected to a client, but sendto() and a new
// connect() take any peer; an accepted TPROXY connection can be disconnected and connected again
// from the address its client dialed. Only strict OUTPUT stopped either; now their mark does
// (docs/SECURITY.md flow 12b), while a UDP answer to the client still comes back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { LISTENER_PROTOCOL_VERSION, UDP_SOCKET_PROTOCOL_VERSION, udpSocketPath } from '@pgw/domain';
import { setprivArgv } from '../../lab/privileges.js';
import { AGENT_SOCKET_NFT_MARK } from '../../services/agent/src/listeners/agent-socket-mark.js';
import { SERVICE_SPECS } from '../../lab/services.js';
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';

const CLIENT = '192.168.2.10';
/** A WAN host a compromised forwarder tries to reach as someone else. */
const ESCAPE_TARGET = '198.51.100.254';
/** A remote host a client sends UDP to (a resolver): its reply socket is bound to this address. */
const SPOOFED = '198.51.100.53';
const STREAM_PORT = 5055;

/** Runs in the WAN namespace: on each connection, 1 KiB every 50 ms for 20 s. */
const STREAMER = `
const [ip, port] = process.argv.slice(1);
require('node:net').createServer((s) => {
  s.on('error', () => {});
  const t = setInterval(() => s.write(Buffer.alloc(1024, 120)), 50);
  setTimeout(() => { clearInterval(t); s.end(); }, 20000);
  s.on('close', () => clearInterval(t));
}).listen(Number(port), ip);
`;

/** Runs in the LAN namespace: connects from argv[1] to argv[2]:argv[3], reads for argv[4] ms, prints the bytes read. */
const READER = `
const [src, host, port, ms] = process.argv.slice(1);
let bytes = 0;
const s = require('node:net').connect({ host, port: Number(port), localAddress: src });
s.on('data', (d) => (bytes += d.length));
s.on('error', () => {});
setTimeout(() => { console.log(bytes); process.exit(0); }, Number(ms));
`;

/** Runs in the LAN namespace: connects from argv[1] to argv[2]:argv[3], reads for argv[4] ms; prints the bytes read and how and when (ms from its start) the connection ended. */
const READ_UNTIL_END = `
const [src, host, port, ms] = process.argv.slice(1);
const started = Date.now();
let bytes = 0;
const done = (end) => { console.log(JSON.stringify({ bytes, end, atMs: Date.now() - started })); process.exit(0); };
const s = require('node:net').connect({ host, port: Number(port), localAddress: src });
s.on('data', (d) => (bytes += d.length));
s.on('error', (e) => done(e.code));
s.on('close', () => done('closed'));
setTimeout(() => done('none'), Number(ms));
`;

/**
 * Runs in the gateway namespace as the forwarder's uid: asks the agent's UDP socket server for the
 * reply socket of a flow (client argv[3]:argv[4] to argv[5]:argv[6]), then uses it to send to
 * argv[7]:argv[8] by sendto(), and by connect() + send(). Prints the answer and each attempt's result.
 */
const REPLY_SOCKET_ESCAPE = `
import json, socket, sys
path, version, client, cport, dest, dport, target, tport = sys.argv[1:9]
channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
channel.connect(path)
channel.send(json.dumps({'v': int(version), 'type': 'reply_socket', 'id': 1, 'client': {'ip': client, 'port': int(cport)}, 'destination': {'ip': dest, 'port': int(dport)}}).encode())
data, fds, _, _ = socket.recv_fds(channel, 65536, 4)
out = {'answer': json.loads(data).get('type'), 'fds': len(fds)}
if fds:
    u = socket.socket(fileno=fds[0])
    out['bound'] = '%s:%d' % u.getsockname()
    for way in ('sendto', 'connect'):
        try:
            if way == 'sendto': u.sendto(b'escape by sendto', (target, int(tport)))
            else:
                u.connect((target, int(tport)))
                u.send(b'escape by connect')
            out[way] = 'sent'
        except OSError as e:
            out[way] = e.strerror
print(json.dumps(out))
`;

/**
 * Runs in the gateway namespace as the forwarder's uid: asks the agent for mapped port argv[3]'s
 * listening socket (the listener protocol, version argv[2], at argv[1]), accepts one client's
 * connection (TPROXY: bound to the address the client dialed), disconnects it (connect(AF_UNSPEC))
 * and connects it to argv[4]:argv[5]. Prints the accepted connection's addresses and the connect's outcome.
 */
const ACCEPTED_ESCAPE = `
import ctypes, json, socket, sys
path, version, port, target, tport = sys.argv[1:6]
channel = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
channel.connect(path)
channel.send(json.dumps({'v': int(version), 'type': 'request', 'id': 1, 'ports': [int(port)]}).encode())
data, fds, _, _ = socket.recv_fds(channel, 65536, 4)
out = {'answer': json.loads(data).get('granted')}
listener = socket.socket(fileno=fds[0])
listener.settimeout(10)
print('listening', flush=True)
conn, peer = listener.accept()
out['peer'] = '%s:%d' % peer
out['bound'] = '%s:%d' % conn.getsockname()
unspec = (ctypes.c_ubyte * 16)()
out['disconnect'] = ctypes.CDLL(None, use_errno=True).connect(conn.fileno(), unspec, 16)
conn.settimeout(2)
try:
    conn.connect((target, int(tport)))
    out['connect'] = 'connected'
except OSError as e:
    out['connect'] = e.strerror or type(e).__name__
print(json.dumps(out), flush=True)
`;

/**
 * Runs in the gateway namespace as root: a UDP socket as the agent makes its transparent ones
 * (IP_TRANSPARENT, SO_MARK argv[1]) bound to argv[2]:argv[3], sending to argv[4]:argv[5].
 */
const MARKED_SOCKET_SEND = `
import json, socket, sys
mark, addr, port, target, tport = sys.argv[1:6]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT
u.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, int(mark, 0))
u.bind((addr, int(port)))
try:
    u.sendto(b'marked, no table', (target, int(tport)))
    print(json.dumps({'sendto': 'sent'}))
except OSError as e:
    print(json.dumps({'sendto': e.strerror}))
`;

/** Moves the client's mapping to `port`, as the api does, and waits until the agent has applied it. */
async function moveMapping(port: number): Promise<void> {
  await dp.tdb.db.updateTable('mappings').set({ listenPort: port }).where('id', '=', mappingId).execute();
  await dp.gateway.publish({ type: 'mapping.changed', mappingId, action: 'updated' });
  await dp.waitFor(`the agent to move the client to port ${port}`, async () => (await dp.nft('list', 'map', 'inet', 'pgw', 'client_port')).stdout.includes(`${CLIENT} : ${port}`));
}

/** Packets dropped by table inet pgw's chain agent_sockets (its counter). */
async function agentSocketDrops(): Promise<number> {
  const listed = (await dp.nft('list', 'chain', 'inet', 'pgw', 'agent_sockets')).stdout;
  return Number(/counter packets (\d+)/.exec(listed)?.[1] ?? NaN);
}

let dp: Dataplane;
let mappingId: number;

describe('TPROXY mode, LAN link down: nothing addressed to a client leaves by the WAN', { timeout: 180_000 }, () => {

  before(async () => {
    dp = await createDataplane({ clients: 2, proxies: ['socks5'] });
    execFileSync('npx', ['tsc', '-b', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
    // A real gateway's default route, to its uplink router (the lab's routes only the WAN prefixes).
    const router = /via (\S+) dev eth0/.exec((await dp.lab.exec(dp.gw, ['ip', 'route', 'get', dp.lab.description.internet.ip])).stdout)?.[1];
    assert.ok(router, 'the route to the internet host');
    await dp.lab.exec(dp.gw, ['ip', 'route', 'replace', 'default', 'via', router, 'dev', 'eth0']);
    await dp.loadGuard();
    await dp.tdb.db.updateTable('settings').set({ interceptMode: 'tproxy', strictOutput: false }).where('id', '=', 1).execute();
    const proxy = await dp.addProxy(0, 'up');
    mappingId = await dp.addMapping(CLIENT, proxy, 20010);
    await dp.startAgent();
    await dp.waitFor('the agent to apply the mapping', async () => JSON.stringify(await dp.setElements('lan_mapped')) === JSON.stringify([CLIENT]));
    await dp.gateway.start('forwarder');
    const { ip } = dp.lab.description.internet;
    await dp.lab.spawn(dp.lab.ns.wan, ['node', '-e', STREAMER, ip, String(STREAM_PORT)], { name: 'streamer' });
    // Streamed bytes, not a connect: the forwarder accepts before it dials, so a connect succeeded
    // while the streamer was still starting (dante refused the CONNECT, the client was reset, and
    // the test read 0 bytes: 1 run in 6 here, and the CI run of e7a08ce).
    await dp.waitFor('the client to read the stream through its proxy', async () => Number((await dp.lab.exec(dp.lab.ns.lan, ['node', '-e', READER, CLIENT, ip, String(STREAM_PORT), '300'])).stdout.trim()) > 0, 15_000);
  });

  after(async () => {
    await dp?.destroy();
  });

  it('a relayed stream to the client: the link goes down mid-stream, eth0 carries no packet with the client\'s address', async () => {
    const { ip } = dp.lab.description.internet;
    const reading = dp.lab.exec(dp.lab.ns.lan, ['node', '-e', READER, CLIENT, ip, String(STREAM_PORT), '6000'], { timeoutMs: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const capture = await dp.captureWan();
    await dp.lab.exec(dp.gw, ['ip', 'link', 'set', 'ens19', 'down']);
    try {
      // The forwarder keeps writing to the client, the kernel keeps retransmitting to it.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
    } finally {
      await dp.lab.exec(dp.gw, ['ip', 'link', 'set', 'ens19', 'up']);
    }
    const wan = await capture.stop();
    const read = Number((await reading).stdout.trim());
    assert.ok(read > 0, 'the stream reached the client before the link went down');
    assert.deepEqual(wan.fromClients, [], `packets with the client's address on eth0 while the LAN link was down`);
  });
  it('the mapping moves to another port: the client\'s live connection is reset at once (the forwarder\'s reset reaches it), and it reconnects through the new port', async () => {
    const { ip } = dp.lab.description.internet;
    const reading = dp.lab.exec(dp.lab.ns.lan, ['node', '-e', READ_UNTIL_END, CLIENT, ip, String(STREAM_PORT), '8000'], { timeoutMs: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const movedAt = 1_500;
    await moveMapping(20011);
    const ended = JSON.parse((await reading).stdout.trim()) as { bytes: number; end: string; atMs: number };
    assert.ok(ended.bytes > 0, 'the stream reached the client first');
    assert.equal(ended.end, 'ECONNRESET', `the client learns its connection ended (${JSON.stringify(ended)})`);
    assert.ok(ended.atMs - movedAt < 3_000, `within 3 s of the move (${ended.atMs - movedAt} ms)`);
    await dp.waitFor('the client to read the stream through its new port', async () => Number((await dp.lab.exec(dp.lab.ns.lan, ['node', '-e', READER, CLIENT, ip, String(STREAM_PORT), '300'])).stdout.trim()) > 0, 15_000);
    await moveMapping(20010);
  });

  it('strict OUTPUT off: a UDP echo through dante comes back through the agent’s marked reply socket', async () => {
    const { ip, udpEchoPort } = dp.lab.description.internet;
    let result = '';
    // The forwarder asks the agent for its sockets once started: a few tries at most.
    for (let i = 0; i < 10 && result !== 'reply'; i++) result = (await dp.prober.udp(CLIENT, ip, udpEchoPort, 1500)).result;
    assert.equal(result, 'reply');
  });

  it('a compromised forwarder holding a reply socket sends as the remote host to another WAN host (sendto, connect again): refused, nothing on eth0', async () => {
    const { ip } = dp.lab.description.internet;
    const droppedBefore = await agentSocketDrops();
    const capture = await dp.captureWan();
    const run = await dp.lab.exec(dp.gw, [...setprivArgv(SERVICE_SPECS.forwarder.uid), '/usr/bin/python3', '-c', REPLY_SOCKET_ESCAPE, udpSocketPath(dp.gateway.listenerSocket), String(UDP_SOCKET_PROTOCOL_VERSION), CLIENT, '40123', SPOOFED, '53', ip, '9']);
    const wan = await capture.stop();
    const dropped = (await agentSocketDrops()) - droppedBefore;
    const out = JSON.parse(run.stdout.trim()) as Record<string, string | number>;
    assert.equal(out.answer, 'socket', `the agent gives the forwarder the flow's reply socket: ${run.stdout}`);
    assert.equal(out.bound, `${SPOOFED}:53`);
    assert.deepEqual(wan.all.filter((l) => l.includes(`${SPOOFED}.53 >`)), [], `packets sent as ${SPOOFED}:53 left by eth0 (${run.stdout.trim()})`);
    assert.deepEqual([out.sendto, out.connect], ['Operation not permitted', 'Operation not permitted'], 'the kernel refuses both sends');
    assert.equal(dropped, 2, 'inet pgw chain agent_sockets counts both');
  });

  it('a compromised forwarder with an accepted TPROXY connection connects it again to a WAN host, as the address its client dialed: refused, no SYN on eth0', async () => {
    const { ip } = dp.lab.description.internet;
    await dp.gateway.stop('forwarder');
    const droppedBefore = await agentSocketDrops();
    const capture = await dp.captureWan();
    const attacker = dp.lab.spawn(dp.gw, [...setprivArgv(SERVICE_SPECS.forwarder.uid), '/usr/bin/python3', '-c', ACCEPTED_ESCAPE, dp.gateway.listenerSocket, String(LISTENER_PROTOCOL_VERSION), '20010', ESCAPE_TARGET, '9'], { name: 'accepted-escape' });
    const proc = await attacker;
    await dp.waitFor('the stand-in forwarder to hold the listener', async () => readFileSync(proc.logFile, 'utf8').includes('listening'));
    await dp.lab.exec(dp.lab.ns.lan, ['node', '-e', READER, CLIENT, ip, String(STREAM_PORT), '1500'], { timeoutMs: 10_000 });
    await dp.waitFor('the stand-in forwarder to report', async () => readFileSync(proc.logFile, 'utf8').includes('"connect"'), 10_000);
    const wan = await capture.stop();
    const dropped = (await agentSocketDrops()) - droppedBefore;
    const out = JSON.parse(readFileSync(proc.logFile, 'utf8').split('\n').find((l) => l.startsWith('{'))!) as Record<string, unknown>;
    assert.equal(out.bound, `${ip}:${STREAM_PORT}`, 'the accepted connection is bound to the address the client dialed');
    assert.equal(out.disconnect, 0, 'connect(AF_UNSPEC) needs no capability');
    assert.deepEqual(wan.all.filter((l) => l.includes(`> ${ESCAPE_TARGET}.9:`)), [], `a SYN as ${ip}:${STREAM_PORT} left by eth0 (${JSON.stringify(out)})`);
    // TCP retransmits a SYN netfilter dropped, so the connect times out rather than failing at once.
    assert.notEqual(out.connect, 'connected');
    assert.ok(dropped >= 1, `counted by inet pgw chain agent_sockets (${dropped})`);
    await dp.gateway.start('forwarder');
  });

  it('with table inet pgw gone, the guard still keeps a marked transparent socket\'s datagrams off eth0', async () => {
    const { ip } = dp.lab.description.internet;
    await dp.killAgent();
    await dp.nft('delete', 'table', 'inet', 'pgw');
    const capture = await dp.captureWan();
    const run = await dp.lab.exec(dp.gw, ['/usr/bin/python3', '-c', MARKED_SOCKET_SEND, AGENT_SOCKET_NFT_MARK, SPOOFED, '53', ip, '9']);
    const wan = await capture.stop();
    assert.deepEqual(wan.all.filter((l) => l.includes(`${SPOOFED}.53 >`)), [], `a marked socket's datagram left by eth0 (${run.stdout.trim()})`);
    assert.equal((JSON.parse(run.stdout.trim()) as { sendto: string }).sendto, 'Operation not permitted');
  });
});
