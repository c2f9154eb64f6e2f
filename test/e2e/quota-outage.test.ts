// A client that goes over its quota while Postgres is away (issue 16, docs/SECURITY.md flow 20):
// the quota table's drop stops it in the kernel, and the agent must also move it to `lan_blocked`
// (the block path of every blocked client: resets, the status record). The agent decides that
// alone, from the kernel's count; it used to wait for a desired-state load that could not happen,
// so during an outage only the first layer held. Real agent (its Postgres through a relay this
// test stops), nftables, the forwarder, dante and iperf3 in the lab.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PgRelay } from '../support/pg-relay.js';
import type { Dataplane } from './dataplane-harness.js';
import { oneQuotaClient, waitQuotaCrossed } from './shaping-harness.js';

const CLIENT = '192.168.2.10';
const QUOTA_BYTES = 5_000_000;

let dp: Dataplane;
let relay: PgRelay;
let mappingId = 0;

describe('a client over its quota while Postgres is away', { timeout: 120_000 }, () => {
  before(async () => {
    ({ dp, mappingId } = await oneQuotaClient(CLIENT, QUOTA_BYTES));
    relay = new PgRelay(dp.lab, PgRelay.socketDirOf(dp.tdb.urlFor('pgw_agent')));
    await relay.start();
    dp.agent = await dp.gateway.start('agent', { PGW_DATABASE_URL: relay.url(dp.tdb.urlFor('pgw_agent')) });
    await dp.gateway.start('forwarder', { PGW_FORWARDER_WARM_POOL: 'false' });
    const { ip, httpPort } = dp.lab.description.internet;
    assert.equal((await dp.prober.until(CLIENT, ip, httpPort, 'connected', 20_000)).gaveUp, undefined, 'the client never got through');
  });

  after(async () => {
    await relay?.stop();
    await dp?.destroy();
  });

  it('is moved to lan_blocked within 2 s of crossing, the database still unreachable', async () => {
    await relay.stop();
    const { ip, iperfPort } = dp.lab.description.internet;
    // Stalls at the crossing (its packets dropped both ways); ended by the timeout.
    const transfer = dp.lab.exec(dp.lab.ns.lan, ['iperf3', '-c', ip, '-p', String(iperfPort), '-B', CLIENT, '-R', '-n', '20M'], { reject: false, timeoutMs: 4_000 });
    try {
      const crossing = await waitQuotaCrossed(dp, mappingId, 0, QUOTA_BYTES);
      const blockedMs = await dp.waitFor('the client in lan_blocked', async () => ((await dp.setElements('lan_blocked')) ?? []).includes(CLIENT), 2_000);
      console.log(`# over quota with Postgres away: in lan_blocked ${Date.now() - crossing.seenAt} ms after the crossing was seen (waited ${blockedMs} ms)`);
      assert.equal(relay.running, false, 'Postgres stayed unreachable for the agent throughout');
    } finally {
      await transfer;
    }
  });
});
