// An agent stopped gracefully (`systemctl stop`, a restart, a reboot's shutdown) publishes a last
// usage sample: the quota counts a restarted or failed-over agent seeds from (quota-store.ts) are
// then those of its stop, not of its last periodic sample, up to a usage interval (10 s by default,
// gigabytes at line rate) older. Real agent, forwarder, dante, nftables quota objects and Redis.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CLIENT_USAGE_KEY, connectRedis, parseClientUsageHash } from '@pgw/events';
import { DEFAULT_NODE } from '../support/node-status.js';
import { createDataplane, type Dataplane, REPO } from './dataplane-harness.js';
import { iperfBytes, quotaUsed, setShaping } from './shaping-harness.js';

const CLIENT = '192.168.2.10';
const QUOTA_BYTES = 100_000_000;

let dp: Dataplane;
let mappingId = 0;
let redis: ReturnType<typeof connectRedis>;

describe('a stopped agent publishes its last usage sample', { timeout: 180_000 }, () => {
  before(async () => {
    execFileSync('npx', ['tsc', '-b', 'services/forwarder'], { cwd: REPO, stdio: 'inherit', timeout: 240_000 });
    dp = await createDataplane({ clients: 1, proxies: ['socks5'] });
    await dp.loadGuard();
    const proxy = await dp.addProxy(0, 'up');
    mappingId = await dp.addMapping(CLIENT, proxy, 20010);
    await setShaping(dp, mappingId, { quotaBytes: QUOTA_BYTES }, false);
    // The longest usage interval the agent takes: periodic samples are rare here (the one judged is the stop's, by its time).
    dp.agent = await dp.gateway.start('agent', { PGW_USAGE_INTERVAL_MS: '60000' });
    await dp.gateway.start('forwarder', { PGW_FORWARDER_WARM_POOL: 'false' });
    const { ip, httpPort } = dp.lab.description.internet;
    assert.equal((await dp.prober.until(CLIENT, ip, httpPort, 'connected', 20_000)).gaveUp, undefined, 'the client never got through');
    await dp.waitFor('the quota object', async () => (await quotaUsed(dp, mappingId, 0)) !== null, 20_000);
    redis = connectRedis(dp.lab.redis.url('api'));
  });

  after(async () => {
    redis?.disconnect();
    await dp?.destroy();
  });

  it('the sample in Redis after a graceful stop holds the count at the stop', async () => {
    const moved = await iperfBytes(dp, CLIENT, 'down', 3_000_000);
    const counted = (await quotaUsed(dp, mappingId, 0)) ?? 0;
    assert.ok(counted >= moved.bytes, `the kernel counted ${counted} B of ${moved.bytes}`);
    const stopping = Date.now();
    await dp.gateway.stop('agent');
    const sample = parseClientUsageHash(await redis.hgetall(CLIENT_USAGE_KEY)).find((s) => s.node === DEFAULT_NODE);
    assert.ok(sample !== undefined && sample.sampledAt.getTime() >= stopping, `no sample taken at the stop (last: ${sample?.sampledAt.toISOString() ?? 'none'})`);
    const stored = sample?.clients[CLIENT]?.quota?.usedBytes ?? 0;
    console.log(`# graceful stop: ${stored} B stored for the client, ${counted} B counted by the kernel before the stop`);
    assert.ok(stored >= counted, `stored ${stored} B after the stop; the kernel had counted ${counted} B`);
  });
});
