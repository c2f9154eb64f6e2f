// One client spending the gateway's local ports toward a proxy that other clients share: short
// connections, each closed by the client first. The relay then closes toward the proxy first too
// (the client's FIN goes on as ours), and each such socket waits 60 s in TIME_WAIT holding its
// local port. Without TIME_WAIT reuse for outgoing connections, once the range was spent every
// new connection to that proxy failed (EADDRNOTAVAIL) for every client mapped to it, for a minute
// after the churn stopped. The range is shrunk to 300 ports in the lab's gateway namespace (the
// default 28,232 only takes longer). Real agent (it sets net.ipv4.tcp_tw_reuse), forwarder, dante.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createLab, type Lab } from '../../lab/index.js';
import { eventually } from '../../lab/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway, REPO_ROOT } from '../support/gateway.js';
import { exitIpVia, labProxy } from './lab-exits.js';

const CHURNER = '192.168.2.10';
const NEIGHBOUR = '192.168.2.11';
const RANGE = '61000 61299';

/** Runs in the LAN namespace: argv[4] connections from argv[1] to argv[2]:argv[3], one at a time, each a byte then the client's FIN; prints how many closed cleanly. */
const CHURN = `
const net = require('node:net');
const [src, host, port, count] = process.argv.slice(1);
let done = 0, failed = 0;
const deadline = Date.now() + 20000;
const one = () => {
  if (done + failed >= Number(count) || Date.now() > deadline) return console.log(JSON.stringify({ done, failed }));
  const s = net.connect({ host, port: Number(port), localAddress: src });
  s.on('connect', () => s.end('x'));
  s.on('error', () => {});
  s.on('close', (hadError) => { hadError ? failed++ : done++; one(); });
  s.resume();
};
one();
`;

describe('relay: one client churning short connections does not spend the ports toward a shared proxy', { timeout: 240_000 }, () => {
  let lab: Lab;
  let tdb: TestDatabase;
  let gateway: Gateway;

  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder', 'services/agent'], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 240_000 });
    lab = await createLab({ clients: 2, proxies: ['socks5'] });
    tdb = await createTestDatabase({ prefix: 'pgw_tw' });
    gateway = new Gateway(lab, tdb);
    const dante = await gateway.seedProxy(labProxy(lab, 'socks5'), { status: 'up', handshakeLearned: 'early-data' });
    await gateway.seedMapping(CHURNER, dante, 20010);
    await gateway.seedMapping(NEIGHBOUR, dante, 20011);
    await lab.exec(lab.ns.gateway, ['sysctl', '-q', '-w', `net.ipv4.ip_local_port_range=${RANGE}`]);
    await gateway.start('agent');
    await gateway.start('forwarder');
    await eventually('the neighbour to exit through dante', async () => (await exitIpVia(lab, NEIGHBOUR)) === labProxy(lab, 'socks5').ip, 15_000);
  });

  after(async () => {
    await gateway?.destroy();
    await lab?.destroy();
    await tdb?.drop();
  });

  it('after 600 short connections of one client, its neighbour on the same proxy still connects', async () => {
    const { ip, tcpEchoPort } = lab.description.internet;
    const churn = await lab.exec(lab.ns.lan, ['node', '-e', CHURN, CHURNER, ip, String(tcpEchoPort), '600'], { timeoutMs: 60_000 });
    const { done } = JSON.parse(churn.stdout.trim()) as { done: number; failed: number };
    const waiting = (await lab.exec(lab.ns.gateway, ['ss', '-Htn', 'state', 'time-wait'])).stdout.split('\n').filter(Boolean).length;
    assert.ok(waiting >= 250, `the churn left ${waiting} sockets in TIME_WAIT on the gateway (it is meant to spend the range)`);
    // TIME_WAIT is reused once at least a second old (the peer's timestamps tell old segments apart).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const exits: string[] = [];
    for (let i = 0; i < 5; i++) exits.push(await exitIpVia(lab, NEIGHBOUR).catch((error: Error) => `failed: ${error.message}`));
    assert.deepEqual(exits, Array(5).fill(labProxy(lab, 'socks5').ip), `the neighbour after the churn (${done} of 600 churned connections closed cleanly, ${waiting} in TIME_WAIT)`);
    assert.equal((await lab.exec(lab.ns.gateway, ['sysctl', '-n', 'net.ipv4.tcp_tw_reuse'])).stdout.trim(), '1');
  });
});
