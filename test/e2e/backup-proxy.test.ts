// Fail policy backup (issue 17, docs/SECURITY.md flow 21) in the lab: the real agent, forwarder and
// health service, real dante (primary) and tinyproxy (backup). Killing the primary moves its client to
// the backup (its exit IP changes) with no client packet on eth0; a fail-closed client of the same
// proxy is blocked; once the primary is back, the client stays on the backup for the hold-down and
// then moves back, its live relay through the backup closed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createLab, type Lab, type ProxyHandle } from '../../lab/index.js';
import { eventually } from '../../lab/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { Gateway } from '../support/gateway.js';
import { analyzeWan } from './dataplane-harness.js';
import { assertNoLeak } from './leak-probes.js';

const ON_BACKUP = '192.168.2.10';
const CLOSED = '192.168.2.11';
const HOLD_DOWN_S = 6;
/** A LAN client's connection held open through its relay: prints 'connected', then 'closed' or an error code when it ends. */
const HELD_CONNECTION = `
const [src, host, port] = process.argv.slice(1);
const s = require('node:net').connect({ host, port: Number(port), localAddress: src });
s.on('connect', () => console.log('connected'));
s.on('error', (e) => { console.log(e.code); process.exit(0); });
s.on('close', () => { console.log('closed'); process.exit(0); });
setTimeout(() => process.exit(0), 60000);
`;

let lab: Lab;
let tdb: TestDatabase;
let gateway: Gateway;
let primary: ProxyHandle;
let backup: ProxyHandle;
let primaryId: number;

async function exitIp(client: string, timeoutMs = 1000): Promise<string | null> {
  const result = await lab.httpGet({ ns: lab.ns.lan, url: lab.description.internet.echoUrl, sourceIp: client, timeoutMs });
  return result.ok && result.status === 200 ? (JSON.parse(result.body) as { ip: string }).ip : null;
}

/** Polls the client's exit IP (at most every 100 ms) until it is `want`; ms from `since`, or null after `timeoutMs`. */
async function untilExit(client: string, want: string, since: number, timeoutMs: number): Promise<number | null> {
  while (Date.now() - since < timeoutMs) {
    const started = Date.now();
    if ((await exitIp(client, 800)) === want) return Date.now() - since;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - started))));
  }
  return null;
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

describe('fail policy backup in the lab (agent, forwarder, health, dante, tinyproxy)', { timeout: 180_000 }, () => {
  before(async () => {
    lab = await createLab({ clients: 2, proxies: ['socks5', 'http'] });
    [primary, backup] = [lab.proxies[0]!, lab.proxies[1]!];
    tdb = await createTestDatabase({ prefix: 'pgw_backup' });
    gateway = new Gateway(lab, tdb);
    // Fast probes and one success to recover, so the test waits for the hold-down, not for the prober.
    await sql`UPDATE settings SET health_interval_s = 5, fail_threshold = 1, recover_threshold = 1, backup_hold_down_s = ${HOLD_DOWN_S},
              check_url = ${lab.description.internet.echoUrl}`.execute(tdb.db);
    primaryId = await gateway.seedProxy(primary, { name: 'primary', status: 'up' });
    const backupId = await gateway.seedProxy(backup, { name: 'backup', status: 'up' });
    const onBackupMapping = await gateway.seedMapping(ON_BACKUP, primaryId, 20010);
    await sql`UPDATE mappings SET fail_policy = 'backup', backup_proxy_ids = ${sql.raw(`'{${backupId}}'`)}::integer[] WHERE id = ${onBackupMapping}`.execute(tdb.db);
    await gateway.seedMapping(CLOSED, primaryId, 20011);
    await gateway.start('agent');
    await gateway.start('forwarder');
    await gateway.start('health');
    await eventually('both clients on the primary', async () => (await exitIp(ON_BACKUP)) === primary.ip && (await exitIp(CLOSED)) === primary.ip, 20_000);
  });

  after(async () => {
    await gateway?.destroy();
    await lab?.destroy();
    await tdb?.drop();
  });

  it('the primary killed: its backup client exits through the backup at once, nothing on eth0 from a client; the closed client is blocked', async () => {
    const capture = await lab.capture({ ns: lab.ns.gateway, iface: 'eth0' });
    const killedAt = Date.now();
    await primary.kill();
    const movedMs = await untilExit(ON_BACKUP, backup.ip, killedAt, 10_000);
    console.log(`# primary killed -> client exits through the backup: ${movedMs} ms (goal 1000; load ${loadavg()})`);
    assert.notEqual(movedMs, null, 'the client never reached the internet through the backup');
    assert.equal(await exitIp(CLOSED), null, 'the fail-closed client of the same proxy gets nothing');
    await new Promise((resolve) => setTimeout(resolve, 300)); // late retransmissions
    const wan = analyzeWan(await capture.stop(), lab.clients, lab.proxies.map((p) => ({ ip: p.ip, port: p.port })));
    assertNoLeak(wan);
    assert.ok(movedMs! < 5_000, `moved after ${movedMs} ms`);
  });

  it('the primary back: the client stays on the backup for the hold-down, then moves back and its live relay is closed', async () => {
    // A connection through the backup, held open across the move.
    const { tcpEchoPort, ip: internet } = lab.description.internet;
    const held = spawn('ip', ['netns', 'exec', lab.ns.lan, 'node', '-e', HELD_CONNECTION, ON_BACKUP, internet, String(tcpEchoPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: held.stdout! })[Symbol.asyncIterator]();
    try {
      assert.equal((await lines.next()).value, 'connected');
      await primary.start();
      const up = await eventually('the health service to see the primary up', async () => {
        const row = await tdb.db.selectFrom('proxies').select(['status', 'statusChangedAt']).where('id', '=', primaryId).executeTakeFirstOrThrow();
        return row.status === 'up' ? row.statusChangedAt!.getTime() : false;
      }, 20_000);
      assert.equal(await exitIp(ON_BACKUP), backup.ip, 'still on the backup right after the primary is up');
      const backMs = await untilExit(ON_BACKUP, primary.ip, up, (HOLD_DOWN_S + 10) * 1000);
      console.log(`# primary up -> client back on it: ${backMs} ms (hold-down ${HOLD_DOWN_S * 1000} ms; load ${loadavg()})`);
      assert.notEqual(backMs, null, 'the client never moved back');
      assert.ok(backMs! >= HOLD_DOWN_S * 1000 - 200, `moved back after ${backMs} ms, before the hold-down`);
      const ended = await Promise.race([lines.next().then((r) => r.value), new Promise((resolve) => setTimeout(() => resolve('still open'), 3_000))]);
      assert.ok(ended === 'closed' || ended === 'ECONNRESET', `the relay through the backup after the move: ${String(ended)}`);
      assert.equal(await exitIp(CLOSED), primary.ip, 'the closed client is effective again');
    } finally {
      held.kill();
    }
  });
});
