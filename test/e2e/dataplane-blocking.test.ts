// Blocking a dead proxy's clients (docs/SECURITY.md flow 18) and agent restarts (flows 14, 17):
// the real agent, real nftables and the lab's Redis; latencies measured and printed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { createDataplane, type Dataplane } from './dataplane-harness.js';

const CLIENT = '192.168.2.10';
const OTHER = '192.168.2.11'; // same proxy
const PORTS = { [CLIENT]: 20010, [OTHER]: 20011 } as const;
const TRIALS = 10;
/** A LAN client's connection held open; on a stdin line it sends one byte and tells what happened. */
const HELD_CONNECTION = `
const [src, host, port] = process.argv.slice(1);
const s = require('node:net').connect({ host, port: Number(port), localAddress: src });
s.on('connect', () => console.log('connected'));
s.on('error', (e) => { console.log(e.code); process.exit(0); });
s.on('close', () => { console.log('closed'); process.exit(0); });
process.stdin.once('data', () => { s.write('x'); setTimeout(() => { console.log('no answer'); process.exit(0); }, 3000); });
`;

let dp: Dataplane;
let proxyId: number;
let internet: string;
let httpPort: number;

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `min ${sorted[0]} ms, p50 ${at(0.5)} ms, max ${sorted.at(-1)} ms`;
}

describe('dataplane blocking (flow 18) and restarts (flows 14, 17)', { timeout: 240_000 }, () => {
  before(async () => {
    dp = await createDataplane({ clients: 4, proxies: ['socks5'] });
    internet = dp.lab.description.internet.ip;
    httpPort = dp.lab.description.internet.httpPort;
    await dp.loadGuard();
    proxyId = await dp.addProxy(0, 'up');
    await dp.addMapping(CLIENT, proxyId, PORTS[CLIENT]);
    await dp.addMapping(OTHER, proxyId, PORTS[OTHER]);
    // The mapped ports' listening sockets are the agent's own (it holds the forwarder's listeners).
    await dp.startAgent();
    await dp.waitFor('both clients effective', async () => (await dp.prober.tcp(CLIENT, internet, httpPort)).result === 'connected' && (await dp.prober.tcp(OTHER, internet, httpPort)).result === 'connected');
  });

  after(async () => {
    await dp?.destroy();
  });

  it(`flow 18: a proxy-down notice blocks its clients in under 1 s (${TRIALS} trials, goal 100 ms); an up notice unblocks them`, async () => {
    const blockMs: number[] = [];
    const unblockMs: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const refused = dp.prober.until(CLIENT, internet, httpPort, 'refused', 3_000);
      const started = Date.now();
      await dp.setProxyStatus(proxyId, 'down');
      const blocked = await refused;
      assert.equal(blocked.gaveUp, undefined, `trial ${trial}: still connecting after 3 s`);
      blockMs.push(blocked.at - started);
      assert.equal((await dp.prober.tcp(OTHER, internet, httpPort)).result, 'refused', 'every client of the proxy is blocked');

      const connected = dp.prober.until(CLIENT, internet, httpPort, 'connected', 3_000);
      const upStarted = Date.now();
      await dp.setProxyStatus(proxyId, 'up');
      const unblocked = await connected;
      assert.equal(unblocked.gaveUp, undefined, `trial ${trial}: still refused after 3 s`);
      unblockMs.push(unblocked.at - upStarted);
    }
    console.log(`# proxy down -> new TCP refused: ${blockMs.join(', ')} ms (${stats(blockMs)})`);
    console.log(`# proxy up -> new TCP connected: ${unblockMs.join(', ')} ms (${stats(unblockMs)})`);
    for (const ms of blockMs) assert.ok(ms < 1_000, `blocked in ${ms} ms`);
  });

  it('flow 18: with the lab’s Redis stopped, the periodic resync blocks within 5 s, and unblocks', async () => {
    await dp.lab.redis.stop();
    try {
      const refused = dp.prober.until(CLIENT, internet, httpPort, 'refused', 7_000);
      const started = Date.now();
      await dp.setProxyStatus(proxyId, 'down', false);
      const blocked = await refused;
      const ms = blocked.at - started;
      console.log(`# Redis down: proxy down -> new TCP refused in ${ms} ms (resync)`);
      assert.equal(blocked.gaveUp, undefined);
      assert.ok(ms < 5_000, `blocked in ${ms} ms`);
      const connected = dp.prober.until(CLIENT, internet, httpPort, 'connected', 7_000);
      await dp.setProxyStatus(proxyId, 'up', false);
      assert.equal((await connected).gaveUp, undefined);
    } finally {
      await dp.lab.redis.start();
      await dp.waitFor('the test’s Redis client to reconnect', () => dp.bus.ping());
    }
  });

  // The agent keeps a blocked client's conntrack entries: they carry the forwarder's reset back to
  // the client. That is safe because the block does not depend on them: every packet the client
  // sends, on an established connection too, is refused before DNAT.
  it('flow 18: a blocked client\'s established connection carries nothing more: its next packet is reset before DNAT', async () => {
    const held = spawn('ip', ['netns', 'exec', dp.lab.ns.lan, process.execPath, '-e', HELD_CONNECTION, CLIENT, internet, String(httpPort)]);
    const lines = createInterface({ input: held.stdout });
    const next = () => new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the held connection in 5 s')), 5_000);
      lines.once('line', (line) => (clearTimeout(timer), resolve(line)));
    });
    try {
      assert.equal(await next(), 'connected');
      const tracked = (await dp.lab.exec(dp.gw, ['conntrack', '-L', '-p', 'tcp', '-s', CLIENT, '--dport', String(httpPort)], { reject: false })).stdout;
      assert.match(tracked, /ESTABLISHED/);
      const refused = dp.prober.until(CLIENT, internet, httpPort, 'refused', 3_000);
      await dp.setProxyStatus(proxyId, 'down');
      assert.equal((await refused).gaveUp, undefined);
      held.stdin.write('send\n');
      assert.equal(await next(), 'ECONNRESET');
    } finally {
      held.kill('SIGKILL');
      await dp.setProxyStatus(proxyId, 'up');
      await dp.prober.until(CLIENT, internet, httpPort, 'connected', 3_000);
    }
  });

  it('flows 14, 17: SIGKILL of the agent and restart: no leak in between, state file enforced at start, then converged', async () => {
    const capture = await dp.captureWan();
    await dp.killAgent();
    // While the agent is dead: the rules stay, route_localnet is off (so the effective client's
    // DNAT-ed SYN is dropped), a change is not applied yet (nothing leaks either way).
    await dp.setProxyStatus(proxyId, 'down', false);
    const whileDead = await Promise.all([dp.prober.tcp(CLIENT, internet, httpPort), dp.prober.tcp('192.168.2.12', internet, httpPort)]);
    assert.deepEqual(whileDead.map((r) => r.result), ['timeout', 'refused']);
    // Flush the table too, so the restarted agent must enforce from its state file.
    await dp.nft('delete', 'table', 'inet', 'pgw');
    const restarted = Date.now();
    await dp.startAgent();
    const blocked = await dp.prober.until(CLIENT, internet, httpPort, 'refused', 5_000);
    console.log(`# agent restart -> converged (client blocked) after ${blocked.at - restarted} ms`);
    assert.equal(blocked.gaveUp, undefined);
    await dp.setProxyStatus(proxyId, 'up');
    assert.equal((await dp.prober.until(CLIENT, internet, httpPort, 'connected', 3_000)).gaveUp, undefined);
    const wan = await capture.stop();
    assert.deepEqual(wan.fromClients, []);
    assert.deepEqual(wan.toOtherHosts, []);
  });
});
