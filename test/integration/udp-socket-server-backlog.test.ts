// The agent's UDP socket server (services/agent/src/listeners/udp-socket-server.ts) under a burst
// of asks from a forwarder that is slow to read its answers: every new UDP flow of every client
// asks for a reply socket, so a DNS storm puts hundreds of answers in the channel within one turn
// of the forwarder's loop. The channel is non-blocking; a full send buffer (EAGAIN) closed the whole
// session, failing every client's pending asks until the forwarder reconnected. Run in a network
// namespace of this test's own (the server binds its transparent UDP socket at start).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NS = `pgw-udpsrv-${process.pid}`;
const ASKS = 2000;

/** In the namespace: the agent's server, and a forwarder stand-in that asks ASKS times (in turns of 100) before it reads anything. */
const SCRIPT = `import { createLogger } from '@pgw/log';
import { GatewayAddresses, udpSocketPath, UDP_SOCKET_PROTOCOL_VERSION } from '@pgw/domain';
import { connectPacketServer } from '@pgw/original-dst';
import { binding } from './packages/original-dst/src/binding.ts';
import { startUdpSocketServer } from './services/agent/src/listeners/udp-socket-server.ts';
const listenerSocket = process.argv[1] + '/listeners.sock';
const server = startUdpSocketServer({ listenerSocket, forwarderUid: 0, forwarderGid: 0, policy: () => null, gatewayAddresses: () => new GatewayAddresses([]) }, createLogger('agent-test', 'error'));
// The forwarder's end, driven by hand: it asks and does not read until the burst is over.
const { fd } = connectPacketServer(udpSocketPath(listenerSocket));
const ask = (id) => binding.sendPacket(fd, Buffer.from(JSON.stringify({ v: UDP_SOCKET_PROTOCOL_VERSION, type: 'reply_socket', id, client: { ip: '192.168.2.10', port: 40000 + (id % 20000) }, destination: { ip: '198.51.100.53', port: 53 } })), []);
const turn = () => new Promise((r) => setImmediate(r));
let sent = 0, sendErrors = 0;
for (let id = 1; id <= ${ASKS}; id++) {
  try { ask(id); sent++; } catch { sendErrors++; }
  if (id % 50 === 0) for (let i = 0; i < 3; i++) await turn(); // the agent reads and answers
}
for (let i = 0; i < 20; i++) await turn();
let queued = 0, closed = null;
for (;;) { const p = binding.recvPacket(fd, 65536); if (p === null) break; if (p.data.length === 0) { closed = 'end of channel'; break; } queued++; }
let afterwards = 'no answer';
if (closed === null) {
  try { ask(999999); } catch (e) { afterwards = 'send failed: ' + e.message; }
  for (let i = 0; i < 50 && afterwards === 'no answer'; i++) { await turn(); const p = binding.recvPacket(fd, 65536); if (p !== null) afterwards = p.data.length === 0 ? 'end of channel' : JSON.parse(p.data.toString()).type; }
}
console.log(JSON.stringify({ sent, sendErrors, queued, closed, afterwards }));
server.close();
process.exit(0);
`;

/** In the namespace: the agent's server and the forwarder's real end (UdpAgentSockets) asking ASKS reply sockets at once. */
const FORWARDER_SCRIPT = `import { createLogger } from '@pgw/log';
import { GatewayAddresses } from '@pgw/domain';
import { startUdpSocketServer } from './services/agent/src/listeners/udp-socket-server.ts';
import { UdpAgentSockets } from './services/forwarder/src/udp/udp-agent-sockets.ts';
const listenerSocket = process.argv[1] + '/listeners.sock';
const server = startUdpSocketServer({ listenerSocket, forwarderUid: 0, forwarderGid: 0, policy: () => null, gatewayAddresses: () => new GatewayAddresses([]) }, createLogger('agent-test', 'error'));
let connected;
const up = new Promise((r) => (connected = r));
const sockets = new UdpAgentSockets(listenerSocket, () => connected(), createLogger('forwarder-test', 'error'));
sockets.start();
await up;
const started = Date.now();
const grants = await Promise.all(Array.from({ length: ${ASKS} }, (_, i) => sockets.replySocket({ ip: '192.168.2.10', port: 40000 + i }, { ip: '198.51.100.53', port: 53 })));
const outcomes = {};
for (const g of grants) { const key = 'fd' in g ? 'socket' : g.reason.slice(0, 40); outcomes[key] = (outcomes[key] ?? 0) + 1; }
console.log(JSON.stringify({ ms: Date.now() - started, outcomes }));
sockets.stop(); server.close();
process.exit(0);
`;

describe("the agent's UDP socket server under a burst the forwarder is slow to read", { timeout: 60_000 }, () => {
  let dir: string | undefined;
  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
    dir = mkdtempSync(join(tmpdir(), 'pgw-udpsrv-'));
  });
  after(() => {
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps the channel: answers that do not fit are dropped (their asks time out), the next ask is answered', () => {
    const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, '--conditions=pgw-source', '--import', 'tsx', '--input-type=module', '-e', SCRIPT, dir!], { encoding: 'utf8', cwd: REPO, timeout: 45_000 });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { sent: number; sendErrors: number; queued: number; closed: string | null; afterwards: string };
    console.log(`# ${ASKS} asks without reading: ${JSON.stringify(result)}`);
    assert.ok(result.queued < result.sent, `every answer fitted (${result.queued} of ${result.sent}): the burst did not fill the channel, this test shows nothing`);
    assert.equal(result.closed, null, 'the agent closed the channel');
    assert.equal(result.afterwards, 'refused', 'the next ask is answered');
  });

  it('the forwarder keeps its asks in flight within what the channel holds: a burst of asks is answered whole, none times out', () => {
    const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, '--conditions=pgw-source', '--import', 'tsx', '--input-type=module', '-e', FORWARDER_SCRIPT, dir!], { encoding: 'utf8', cwd: REPO, timeout: 45_000 });
    const result = JSON.parse(out.trim().split('\n').at(-1)!) as { ms: number; outcomes: Record<string, number> };
    console.log(`# ${ASKS} reply sockets asked at once through UdpAgentSockets: ${JSON.stringify(result)}`);
    // The policy is null: the agent refuses each (no mapping), an answer all the same.
    assert.deepEqual(result.outcomes, { 'the agent has no policy in force yet': ASKS });
  });
});
