// The forwarder's warm pool (issue 12.4) in the lab: real agent ruleset, real dante, the
// forwarder as uid pgw. The gateway namespace's TCP table (ss) is the witness: which connections
// to a proxy exist, which of them carries a client's bytes, and since when. Proves: no warm
// connection without demand or for a blocked mapping; warm connections after demand; a client's
// connection rides one opened before the client connected, and still exits from the proxy's
// address; none survives a change of the proxy's endpoint and credentials (the relay riding one
// is reset like any other), nor the proxy being marked down.
import { SERVICE_SPECS } from '../../lab/services.js';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { encryptSecret } from '@pgw/crypto';
import { createLab, type Lab, type ProxyHandle } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT } from '../support/gateway.js';
import { LanClient } from '../bench/forwarder/lan-client-handle.js';
import { eventually } from '../../lab/wait.js';
import { exitIpVia, labProxy } from './lab-exits.js';
import { metricSamples } from '../support/prometheus-text.js';

const CLIENT = '192.168.2.10';
const BLOCKED_CLIENT = '192.168.2.11';
/** Long enough that no warm connection ages out while a step looks at it. */
const WARM_MAX_AGE_MS = 20_000;

let lab: Lab;
let tdb: TestDatabase;
let gateway: Gateway;
let lan: LanClient;
let proxyId: number;

interface ProxyConnection {
  localPort: number;
  bytesReceived: number;
}

/** The gateway's established TCP connections to a proxy, with what each has received. */
async function connectionsTo(target: ProxyHandle): Promise<ProxyConnection[]> {
  const { stdout } = await lab.exec(lab.ns.gateway, ['ss', '-Htni', 'state', 'established', `dst ${target.ip}:${target.port}`]);
  const found: ProxyConnection[] = [];
  for (const line of stdout.split('\n')) {
    const socket = /^\s*\d+\s+\d+\s+\S+:(\d+)\s+\S+:\d+/.exec(line);
    if (socket) found.push({ localPort: Number(socket[1]), bytesReceived: 0 });
    const received = /bytes_received:(\d+)/.exec(line);
    if (received && found.length > 0) found.at(-1)!.bytesReceived = Number(received[1]);
  }
  return found;
}

/** The forwarder's pgw_forwarder_warm_setup_seconds for a proxy, in ms; null without a sample. */
async function warmSetupMs(id: number): Promise<number | null> {
  const { stdout } = await lab.exec(lab.ns.gateway, ['curl', '-sf', '--max-time', '2', `http://127.0.0.1:${SERVICE_SPECS.forwarder.metricsPort}/metrics`]);
  const sample = metricSamples(stdout, 'pgw_forwarder_warm_setup_seconds').find((s) => s.labels.proxy === String(id));
  return sample === undefined ? null : sample.value * 1000;
}

describe('forwarder warm pool in the lab (uid pgw, real agent ruleset, real dante)', { timeout: 120_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 240_000 });
    lab = await createLab({ clients: 2, proxies: ['socks5', 'socks5-auth'] });
    tdb = await createTestDatabase({ prefix: 'pgw_fw_warm' });
    gateway = new Gateway(lab, tdb, { env: { forwarder: { PGW_FORWARDER_WARM_POOL: 'true', PGW_FORWARDER_WARM_MAX_AGE_MS: String(WARM_MAX_AGE_MS) } } });
    // Its own row, pointing at dante without auth first; the blocked client's proxy is dante with auth.
    proxyId = await gateway.seedProxy(labProxy(lab, 'socks5'), { status: 'up' });
    const blockedProxyId = await gateway.seedProxy(labProxy(lab, 'socks5-auth'), { status: 'up' });
    await gateway.seedMapping(CLIENT, proxyId, 20010);
    await gateway.seedMapping(BLOCKED_CLIENT, blockedProxyId, 20011, false);
    await gateway.start('agent');
    await gateway.start('forwarder');
    lan = new LanClient(lab.ns.lan);
    await lan.ready;
  });

  after(async () => {
    lan?.close();
    await gateway?.destroy();
    await lab?.destroy();
    await tdb?.drop();
  });

  it('opens no warm connection before any demand, nor for a blocked mapping', async () => {
    assert.deepEqual(await connectionsTo(labProxy(lab, 'socks5')), [], 'no client has connected yet');
    for (let i = 0; i < 3; i++) assert.equal((await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: BLOCKED_CLIENT, timeoutMs: 1000 })).ok, false);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await connectionsTo(labProxy(lab, 'socks5-auth')), [], 'the blocked mapping\'s proxy is never dialed');
  });

  it('after demand, a client connection rides a warm connection opened before it connected, and exits from the proxy\'s address', async () => {
    // Demand: a burst of two; the first connections dial, the pool sizes itself to the burst: two,
    // or one when the two clients start further apart than a warm connection takes to open (a
    // loaded machine). Either way the client below must ride one opened before it connected.
    const exits = await Promise.all([exitIpVia(lab, CLIENT), exitIpVia(lab, CLIENT)]);
    assert.deepEqual(exits, [labProxy(lab, 'socks5').ip, labProxy(lab, 'socks5').ip]);
    const warm = await eventually('warm connections to dante', async () => {
      const found = await connectionsTo(labProxy(lab, 'socks5'));
      // Warm: the method selection (2 bytes) and nothing more has arrived.
      return found.length >= 1 && found.every((c) => c.bytesReceived === 2) && found;
    });
    console.log(`# warm connections after a burst of two: ${warm.length}`);
    const setup = await warmSetupMs(proxyId);
    assert.ok(setup !== null && setup > 0 && setup < 1_000, `the pool timed its opens: ${setup} ms`);
    console.log(`# a warm connection to dante opens in ${setup!.toFixed(3)} ms (smoothed)`);
    const warmPorts = new Set(warm.map((c) => c.localPort));
    const echoAt = { host: lab.description.internet.ip, port: lab.description.internet.tcpEchoPort };
    await lan.run({ op: 'hold', key: 'rides-warm', src: CLIENT, ...echoAt });
    const after = await connectionsTo(labProxy(lab, 'socks5'));
    const carrying = after.filter((c) => c.bytesReceived > 2);
    assert.equal(carrying.length, 1, `one connection carries the client: ${JSON.stringify(after)}`);
    assert.ok(warmPorts.has(carrying[0]!.localPort), `the client's upstream (local port ${carrying[0]!.localPort}) is one of the warm connections opened before it connected (${[...warmPorts].join(', ')})`);
    assert.equal(await exitIpVia(lab, CLIENT), labProxy(lab, 'socks5').ip, 'the exit address is still the mapping\'s proxy');
  });

  it('drops every warm connection at once when the proxy\'s endpoint and credentials change', async () => {
    await eventually('warm connections to dante', async () => (await connectionsTo(labProxy(lab, 'socks5'))).length > 0);
    const next = labProxy(lab, 'socks5-auth');
    await tdb.db
      .updateTable('proxies')
      .set({ host: next.ip, port: next.port, username: next.username!, passwordEnc: encryptSecret(next.password!, gateway.secretKey) })
      .where('id', '=', proxyId)
      .execute();
    // An endpoint change resets the status to unknown (fail closed until probed): the probe's verdict, as health would write it.
    await tdb.db.updateTable('proxies').set({ status: 'up' }).where('id', '=', proxyId).execute();
    const started = Date.now();
    await gateway.publish({ type: 'proxy.changed', proxyId, action: 'updated' });
    // The relay riding a warm connection ends like any other relay of a changed proxy.
    const closed = await lan.closed('rides-warm', 3_000);
    assert.equal(closed.how, 'reset');
    await eventually('no connection left to the old endpoint', async () => (await connectionsTo(labProxy(lab, 'socks5'))).length === 0, 3_000);
    console.log(`# endpoint changed: warm connections to the old endpoint gone ${Date.now() - started} ms after the notice`);
    assert.equal(await exitIpVia(lab, CLIENT), next.ip, 'new connections exit through the new endpoint');
  });

  it('drops every warm connection at once when the proxy is marked down', async () => {
    await Promise.all([exitIpVia(lab, CLIENT), exitIpVia(lab, CLIENT)]);
    await eventually('warm connections to dante with auth', async () => {
      const found = await connectionsTo(labProxy(lab, 'socks5-auth'));
      // Warm with auth: method selection and auth status (2 + 2 bytes).
      return found.length > 0 && found.every((c) => c.bytesReceived === 4);
    });
    const started = Date.now();
    await gateway.setProxyStatus(proxyId, 'down');
    await eventually('no connection left to the proxy marked down', async () => (await connectionsTo(labProxy(lab, 'socks5-auth'))).length === 0, 3_000);
    console.log(`# proxy marked down: warm connections gone ${Date.now() - started} ms after the notice`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(await connectionsTo(labProxy(lab, 'socks5-auth')), [], 'none opened again while the proxy is down');
  });

  it('closes the warm connections, and resets the relay riding one, when the LAN prefix grows over the proxy', async () => {
    const proxy = labProxy(lab, 'socks5-auth');
    await gateway.setProxyStatus(proxyId, 'up');
    // The notice is published, not yet applied: the agent unblocks the client within its own turn
    // (the CI run of e7a08ce curled first, and the still-blocked client was refused).
    await eventually('the client unblocked again', async () => (await exitIpVia(lab, CLIENT).catch(() => null)) === proxy.ip, 5_000);
    await Promise.all([exitIpVia(lab, CLIENT), exitIpVia(lab, CLIENT)]);
    await eventually('warm connections to dante with auth', async () => {
      const found = await connectionsTo(proxy);
      return found.length > 0 && found.every((c) => c.bytesReceived === 4);
    });
    await lan.run({ op: 'hold', key: 'through-refused', src: CLIENT, host: lab.description.internet.ip, port: lab.description.internet.tcpEchoPort });
    const { lanCidr } = await tdb.db.selectFrom('settings').select('lanCidr').where('id', '=', 1).executeTakeFirstOrThrow();
    // Over the clients and the proxies' WAN (198.51.100.0/24), not the internet host (203.0.113.10): only the proxy is refused now.
    const wider = '192.0.0.0/5';
    try {
      await tdb.db.updateTable('settings').set({ lanCidr: wider }).where('id', '=', 1).execute();
      const started = Date.now();
      await gateway.publish({ type: 'config.changed' });
      const closed = await lan.closed('through-refused', 3_000);
      assert.equal(closed.how, 'reset', 'the live relay through a proxy now inside the LAN prefix');
      await eventually('no connection left to the proxy now inside the LAN prefix', async () => (await connectionsTo(proxy)).length === 0, 3_000);
      console.log(`# LAN prefix ${wider} over the proxy: its relay reset and warm connections gone ${Date.now() - started} ms after the notice`);
    } finally {
      await tdb.db.updateTable('settings').set({ lanCidr }).where('id', '=', 1).execute();
      await gateway.publish({ type: 'config.changed' });
    }
  });
});
