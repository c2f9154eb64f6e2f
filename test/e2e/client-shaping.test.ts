// Per-client rate limits, byte quota and accounting (issue 16, docs/SECURITY.md flow 20): the real
// agent (tc, tables inet pgw_quota and pgw_acct), the real forwarder and iperf3 through a real SOCKS5 proxy.
// Rates, the quota's block time, the kill-switch on eth0, the per-client counts against iperf3's
// own and the self-heal of both tables are measured and printed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { agentStatusKey, connectRedis, parseAgentStatus } from '@pgw/events';
// The lab's single gateway runs with no PGW_NODE_NAME: its records are under the host name.
import { DEFAULT_NODE } from '../support/node-status.js';
const AGENT_STATUS_KEY = agentStatusKey(DEFAULT_NODE);
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';
import { iperfBytes, iperfIdle, kernelCounter, measureRate, packetsToClient, quotaUsed, setShaping, settledUsageSample, usageSampleAfter, waitQuotaCrossed } from './shaping-harness.js';

const LIMITED = '192.168.2.10';
const UNLIMITED = '192.168.2.11';
const QUOTA = '192.168.2.12';
const PORTS = { [LIMITED]: 20010, [UNLIMITED]: 20011, [QUOTA]: 20012 } as const;
const DOWN_KBIT = 50_000;
const UP_KBIT = 20_000;
const QUOTA_BYTES = 10_000_000;
const QUOTA_DOWN_KBIT = 100_000;
const TOLERANCE = 0.1;
/** The issue's bound for the per-client byte counts against iperf3's own. */
const COUNT_TOLERANCE = 0.02;

let dp: Dataplane;
const ids: Record<string, number> = {};

describe('per-client shaping and quota (issue 16)', { timeout: 120_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
    dp = await createDataplane({ clients: 4, proxies: ['socks5', 'socks5'] });
    await dp.loadGuard();
    const shared = await dp.addProxy(0, 'up');
    // The quota client alone on the second proxy: every packet to that proxy on eth0 is its traffic.
    const own = await dp.addProxy(1, 'up');
    ids[LIMITED] = await dp.addMapping(LIMITED, shared, PORTS[LIMITED]);
    ids[UNLIMITED] = await dp.addMapping(UNLIMITED, shared, PORTS[UNLIMITED]);
    ids[QUOTA] = await dp.addMapping(QUOTA, own, PORTS[QUOTA]);
    await setShaping(dp, ids[LIMITED]!, { rateDownKbit: DOWN_KBIT, rateUpKbit: UP_KBIT }, false);
    // Its download limited too: a capture on the LAN keeps every packet at 100 Mbit/s (at Gbit/s
    // tcpdump loses some), and the last packet to the client is taken from that capture.
    await setShaping(dp, ids[QUOTA]!, { quotaBytes: QUOTA_BYTES, rateDownKbit: QUOTA_DOWN_KBIT }, false);
    // A usage sample every second (10 s by default): the test waits for one after each transfer.
    dp.agent = await dp.gateway.start('agent', { PGW_USAGE_INTERVAL_MS: '1000' });
    // No warm connections: they would put the forwarder's own greetings to the quota client's proxy
    // on eth0, and the silence after the block is proven by no packet to that proxy at all.
    await dp.gateway.start('forwarder', { PGW_FORWARDER_WARM_POOL: 'false' });
    const { ip, httpPort } = dp.lab.description.internet;
    await dp.waitFor('every client effective', async () => {
      for (const client of [LIMITED, UNLIMITED, QUOTA]) if ((await dp.prober.tcp(client, ip, httpPort)).result !== 'connected') return false;
      return true;
    }, 20_000);
    await dp.waitFor('the limited client shaped', async () => (await dp.lab.exec(dp.gw, ['tc', 'class', 'show', 'dev', 'pgw-ifb0'], { reject: false })).stdout.includes('rate 20Mbit'), 10_000);
  });

  after(async () => {
    await dp?.destroy();
  });

  it('a client limited to 50 Mbit/s down and 20 Mbit/s up measures within ±10 %; an unlimited client beside it is not limited', async () => {
    const down = await measureRate(dp, LIMITED, 'down');
    const up = await measureRate(dp, LIMITED, 'up');
    const free = await measureRate(dp, UNLIMITED, 'down');
    const freeUp = await measureRate(dp, UNLIMITED, 'up');
    console.log(`# limited ${LIMITED}: down ${down.toFixed(1)} Mbit/s (limit ${DOWN_KBIT / 1000}), up ${up.toFixed(1)} Mbit/s (limit ${UP_KBIT / 1000})`);
    console.log(`# unlimited ${UNLIMITED}: down ${free.toFixed(1)} Mbit/s, up ${freeUp.toFixed(1)} Mbit/s`);
    assert.ok(Math.abs(down / (DOWN_KBIT / 1000) - 1) <= TOLERANCE, `download ${down} Mbit/s is not within 10 % of ${DOWN_KBIT / 1000}`);
    assert.ok(Math.abs(up / (UP_KBIT / 1000) - 1) <= TOLERANCE, `upload ${up} Mbit/s is not within 10 % of ${UP_KBIT / 1000}`);
    // Far above either limit: neither its download nor its upload passes a class of the limited client.
    assert.ok(free > 3 * (DOWN_KBIT / 1000), `the unlimited client's download ${free} Mbit/s looks limited`);
    assert.ok(freeUp > 3 * (DOWN_KBIT / 1000), `the unlimited client's upload ${freeUp} Mbit/s looks limited`);
  });

  it('a 10 MB quota blocks within 1 s of crossing, nothing of the client on eth0 after, the status says quota_exceeded; a reset unblocks', async () => {
    const redis = connectRedis(dp.lab.redis.url('api'));
    try {
      const proxy = dp.lab.proxies[1]!;
      const { ip, httpPort, iperfPort } = dp.lab.description.internet;
      // Another client's run first: the server is free once it returns (counted on no quota).
      await iperfIdle(dp, UNLIMITED);
      // Download until the quota is crossed: the transfer stalls there (its packets are dropped both
      // ways; iperf3 is ended by the timeout). The gateway's LAN interface is captured throughout.
      const lanCapture = await dp.lab.capture({ ns: dp.gw, iface: dp.lab.description.gateway.lanIface, filter: `host ${QUOTA}` });
      const transfer = dp.lab.exec(dp.lab.ns.lan, ['iperf3', '-c', ip, '-p', String(iperfPort), '-B', QUOTA, '-R', '-n', '40M'], { reject: false, timeoutMs: 4_000 });
      const crossing = await waitQuotaCrossed(dp, ids[QUOTA]!, 0, QUOTA_BYTES).catch(async (error: Error) => {
        const table = await dp.nft('list', 'table', 'inet', 'pgw_quota');
        const done = await transfer;
        throw new Error(`${error.message}\n${table.stdout}${table.stderr}\niperf3: ${done.stdout.slice(-600)} ${done.stderr}`);
      });
      // Blocked: a new connection gets no answer (every packet dropped before DNAT).
      const probe = await dp.prober.tcp(QUOTA, ip, httpPort, 500);
      assert.notEqual(probe.result, 'connected', 'a client over its quota still connects');
      const statusMs = await dp.waitFor('the status record to say quota_exceeded', async () => parseAgentStatus(await redis.get(AGENT_STATUS_KEY))?.blocked[QUOTA] === 'quota_exceeded', 2_000);
      // The same block path as any blocked client (flow 18's resets), on top of the quota table's drop.
      await dp.waitFor('the client in lan_blocked', async () => ((await dp.setElements('lan_blocked')) ?? []).includes(QUOTA), 2_000);
      const status = parseAgentStatus(await redis.get(AGENT_STATUS_KEY))!;
      assert.equal(status.quotaExceeded?.[QUOTA]?.mappingId, ids[QUOTA]);
      assert.equal(status.quotaExceeded![QUOTA]!.usedBytes, QUOTA_BYTES);
      await transfer;
      await lanCapture.stop();
      const sent = await packetsToClient(dp, lanCapture.file, QUOTA, crossing.seenAt);
      // An upper bound: the crossing came after lastBelowAt. A packet nft counted before the crossing
      // may still leave HTB's queue after it (counted at postrouting, sent by the qdisc): not a leak.
      const blockMs = Math.max(0, sent.lastAt - crossing.lastBelowAt);
      console.log(
        `# quota crossed (between reads ${crossing.seenAt - crossing.lastBelowAt} ms apart) -> last packet the gateway sent the client <= ${blockMs.toFixed(1)} ms, ` +
          `${sent.countAfter} packets to it after the crossing was seen; seen -> status quota_exceeded ${statusMs} ms; a new connection: ${probe.result}`,
      );
      assert.ok(blockMs < 1_000, `the gateway still sent the client data ${blockMs} ms after the crossing`);

      // Let the stalled relay's last packets go, then: the client keeps trying, its proxy sees nothing.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const capture = await dp.lab.capture({ ns: dp.gw, iface: 'eth0' });
      for (let i = 0; i < 5; i++) await dp.prober.tcp(QUOTA, ip, httpPort, 300);
      const lines = await capture.stop();
      const toProxy = lines.filter((l) => / IP /.test(l) && l.includes(`${proxy.ip}.${proxy.port}`));
      const fromClient = lines.filter((l) => l.includes(QUOTA));
      console.log(`# over quota, 5 connection attempts: ${toProxy.length} packets to/from its proxy on eth0, ${fromClient.length} with its address`);
      assert.deepEqual(fromClient, []);
      assert.deepEqual(toProxy, []);

      // Another writer deletes table inet pgw_quota: the self-heal puts it back with the counts it
      // last read, so the client is still over its quota and still blocked (never reset to 0).
      const deletedAt = Date.now();
      assert.equal((await dp.nft('delete', 'table', 'inet', 'pgw_quota')).exitCode, 0);
      const healMs = await dp.waitFor('table inet pgw_quota restored', async () => (await quotaUsed(dp, ids[QUOTA]!, 0)) !== null, 3_000);
      assert.equal(await quotaUsed(dp, ids[QUOTA]!, 0), QUOTA_BYTES, 'the quota restored without its count');
      const stillBlocked = await dp.prober.tcp(QUOTA, ip, httpPort, 500);
      assert.notEqual(stillBlocked.result, 'connected', 'the client got through after the quota table was deleted');
      assert.ok(((await dp.setElements('lan_blocked')) ?? []).includes(QUOTA), 'left lan_blocked after the quota table was deleted');
      console.log(`# table inet pgw_quota deleted by another writer -> restored in ${healMs} ms (${Date.now() - deletedAt} ms with the checks), count ${QUOTA_BYTES}, client still blocked`);

      // The operator's reset: a new epoch, a fresh count.
      const resetAt = Date.now();
      await setShaping(dp, ids[QUOTA]!, { quotaBytes: QUOTA_BYTES, quotaEpoch: 1 }, true);
      const unblock = await dp.prober.until(QUOTA, ip, httpPort, 'connected', 3_000);
      assert.equal(unblock.gaveUp, undefined, 'still blocked 3 s after the reset');
      console.log(`# reset -> connected ${unblock.at - resetAt} ms`);
      assert.equal(await quotaUsed(dp, ids[QUOTA]!, 0), null, 'the old epoch’s object is gone');
      assert.ok(!((await dp.setElements('lan_blocked')) ?? []).includes(QUOTA), 'still in lan_blocked after the reset');
      await dp.waitFor('the status record to drop quota_exceeded', async () => parseAgentStatus(await redis.get(AGENT_STATUS_KEY))?.blocked[QUOTA] === undefined, 2_000);
    } finally {
      redis.disconnect();
    }
  });
  it("per-client byte counts agree with iperf3's own within 2 %; a foreign delete of their table keeps them", async () => {
    const redis = connectRedis(dp.lab.redis.url('api'));
    try {
      await iperfIdle(dp, LIMITED);
      const rows: string[] = [];
      for (const [direction, bytes] of [['down', 40_000_000], ['up', 20_000_000]] as const) {
        const before = await usageSampleAfter(dp, redis, Date.now());
        const run = await iperfBytes(dp, UNLIMITED, direction, bytes);
        // Once iperf3 returns, the client's count settles (an upload's tail may still be leaving the
        // client's send buffer): the settled sample holds every byte.
        const key = direction === 'down' ? 'bytesDown' : 'bytesUp';
        const after = await settledUsageSample(dp, redis, run.endedAt + 200, UNLIMITED, key);
        assert.equal(after.countersSince.getTime(), before.countersSince.getTime(), 'the counters restarted during the run');
        const counted = after.clients[UNLIMITED]![key] - before.clients[UNLIMITED]![key];
        const connections = after.clients[UNLIMITED]!.connections - before.clients[UNLIMITED]!.connections;
        // The gateway's count lies between what iperf3 counted at its two ends (iperfBytes), each
        // bound widened by the tolerance (packet headers, iperf3's control connection).
        const low = Math.min(run.bytes, run.far) * (1 - COUNT_TOLERANCE);
        const high = Math.max(run.bytes, run.far) * (1 + COUNT_TOLERANCE);
        const error = counted / run.bytes - 1;
        const ends = `iperf3 counted ${run.bytes} B at the client, ${run.far} B at the server`;
        rows.push(`${direction}: ${ends}; counted ${counted} B (${(error * 100).toFixed(2)} % of the client's), ${connections} new connections`);
        assert.ok(counted >= low && counted <= high, `${direction}: counted ${counted} B, ${ends} (allowed ${Math.round(low)}-${Math.round(high)} B)`);
        // iperf3's control connection and its data connection.
        assert.ok(connections >= 2, `${direction}: ${connections} new connections counted`);
      }
      console.log(`# per-client counts of ${UNLIMITED} (load ${readFileSync('/proc/loadavg', 'utf8').trim()}):\n#   ${rows.join('\n#   ')}`);

      // The counts survive another writer's delete of table inet pgw_acct: restored from the last reading.
      const last = await usageSampleAfter(dp, redis, Date.now());
      assert.equal((await dp.nft('delete', 'table', 'inet', 'pgw_acct')).exitCode, 0);
      await dp.waitFor('the counters restored', async () => (await kernelCounter(dp, 'acct_down', UNLIMITED)) !== null, 3_000);
      const restored = (await kernelCounter(dp, 'acct_down', UNLIMITED))!;
      assert.ok(restored.bytes >= last.clients[UNLIMITED]!.bytesDown, `restored ${restored.bytes} B, the last sample said ${last.clients[UNLIMITED]!.bytesDown} B`);
      const next = await usageSampleAfter(dp, redis, Date.now());
      assert.equal(next.countersSince.getTime(), last.countersSince.getTime(), 'countersSince changed: the restore looks like a restart');
      assert.ok(next.clients[UNLIMITED]!.bytesDown >= last.clients[UNLIMITED]!.bytesDown);
    } finally {
      redis.disconnect();
    }
  });

  it('a new limit is applied while every agent run reports an unrelated error (its state file cannot be written)', async () => {
    // policy.json turned into a directory that is not empty: each save's rename fails, so every run
    // reports state_file and is not ok, while the ruleset itself applies.
    const stateFile = join(dp.gateway.stateDir, 'policy.json');
    rmSync(stateFile, { force: true });
    mkdirSync(stateFile);
    writeFileSync(join(stateFile, 'in-the-way'), '');
    const log = `${dp.gateway.dir}/pgw-agent.log`;
    const failedBefore = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('state_file')).length;
    try {
      await setShaping(dp, ids[UNLIMITED]!, { rateDownKbit: 30_000 }, true);
      await dp.waitFor('a run failing for its state file', async () => readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('state_file')).length > failedBefore, 5_000);
      const lan = dp.lab.description.gateway.lanIface;
      await dp.waitFor(`the new 30 Mbit/s class on ${lan}`, async () => (await dp.lab.exec(dp.gw, ['tc', 'class', 'show', 'dev', lan])).stdout.includes('rate 30Mbit'), 5_000);
    } finally {
      rmSync(stateFile, { recursive: true, force: true });
      await setShaping(dp, ids[UNLIMITED]!, { rateDownKbit: null }, true);
    }
  });
});
