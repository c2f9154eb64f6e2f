// The agent's Shaper when the stored quota counts (issue 16: what a node published before a reboot
// or failover) arrive while a quota apply is under way (real nft in a private network namespace).
// At an agent's start its first sync and its first read of Redis race: an apply that read the
// counts before they arrived writes the quota objects from zero, and the counts must still raise
// them once it is done, not a usage interval later (10 s by default, a client at line rate moves
// gigabytes meanwhile). A CI run of quota-restart saw a failover's quota object at 928 B with
// 6.1 MB stored.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort } from '@pgw/domain';
import { quotaPeriodAt } from '../../services/agent/src/quota/quota-period.js';
import { quotaName } from '../../services/agent/src/quota/quota-table.js';
import { Shaper } from '../../services/agent/src/shaping/shaper.js';
import { ShaperSandbox } from '../support/namespace-bins.js';
import { quotaUsageSample } from '../support/usage-sample.js';

const SETTINGS = { period: 'monthly', timeZone: 'UTC' } as const;
const NOW = Date.parse('2026-12-04T12:00:00Z');
const QUOTA_BYTES = 10_000_000;
const STORED_BYTES = 6_000_000;

const POLICY: GatewayPolicy = {
  lan: { interface: parseInterfaceName('lan0'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('wan0') },
  dnsMode: 'drop',
  clients: [{ mappingId: 1, proxyId: 1, ip: parseIpv4('192.168.2.10'), port: parsePort(20001), blocked: null, shaping: { rateDownKbit: null, rateUpKbit: null, quotaBytes: QUOTA_BYTES, quotaEpoch: 0 } }],
  strictOutput: null,
};

/** What the other node of a pair last published for the client: 6 of its 10 MB used this period. */
function storedSample(usedBytes = STORED_BYTES) {
  const sample = quotaUsageSample({ mappingId: 1, ip: '192.168.2.10', usedBytes, limitBytes: QUOTA_BYTES }, NOW, SETTINGS);
  return { sample, key: quotaPeriodAt(new Date(NOW), SETTINGS.period, SETTINGS.timeZone).key };
}

describe('Shaper: stored quota counts that arrive during an apply (real nft, private namespace)', { timeout: 60_000 }, () => {
  let sandbox: ShaperSandbox;
  const errors: Error[] = [];

  before(() => (sandbox = new ShaperSandbox('shaper-seed')));
  after(() => sandbox?.destroy());

  it('raise the quota object the apply wrote without them as soon as the apply is done', async () => {
    // The table's write (`nft -f -`) is held until the test lets it go: the apply has read the
    // stored counts by then, and has not yet finished.
    const held = join(sandbox.dir, 'held');
    const go = join(sandbox.dir, 'go');
    const gate = sandbox.nftWrapped('nft-gated', `if [ "$1" = "-f" ] && [ ! -e ${go} ]; then\n  touch ${held}\n  i=0\n  while [ ! -e ${go} ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\nfi`);
    const shaper = new Shaper({ bins: { ...sandbox.bins, nft: gate }, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => NOW });
    const { sample, key } = storedSample();

    const applying = shaper.sync(POLICY, SETTINGS);
    for (let i = 0; i < 200 && !existsSync(held); i++) await new Promise((resolve) => setTimeout(resolve, 25));
    assert.ok(existsSync(held), 'the apply never wrote the quota table');
    const seeding = shaper.seed([sample]);
    writeFileSync(go, '');
    await applying;
    await seeding;

    assert.deepEqual(errors, []);
    const listed = JSON.parse(sandbox.nft('-j', 'list', 'quotas', 'table', 'inet', 'pgw_quota')) as { nftables: { quota?: { name: string; used: number } }[] };
    const used = listed.nftables.find((item) => item.quota?.name === quotaName(1, 0, key))?.quota?.used;
    console.log(`# quota object after the apply and the seed: ${used} B (stored ${STORED_BYTES} B)`);
    assert.ok(used !== undefined && used >= STORED_BYTES, `the quota object counts ${used} B once the apply and the seed are done; the stored count is ${STORED_BYTES} B`);
  });

  it('a quota object another writer resets in place keeps the count the agent knew, even once a sample republished the zero', async () => {
    let now = NOW;
    const shaper = new Shaper({ bins: sandbox.bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => now });
    const { sample, key } = storedSample();
    await shaper.seed([sample]);
    await shaper.sync(POLICY, SETTINGS);
    const used = () => (JSON.parse(sandbox.nft('-j', 'list', 'quotas', 'table', 'inet', 'pgw_quota')) as { nftables: { quota?: { name: string; used: number } }[] }).nftables.find((item) => item.quota?.name === quotaName(1, 0, key))?.quota?.used ?? -1;
    assert.ok(used() >= STORED_BYTES, `seeded: ${used()} B`);
    // Another writer zeroes the object in place (same name, same limit); the quota poll reads it,
    // and the agent's next usage sample publishes what it now knows.
    sandbox.nft('reset', 'quotas', 'table', 'inet', 'pgw_quota');
    assert.equal(used(), 0);
    await shaper.exceeded();
    await shaper.seed([storedSample(0).sample]);
    now += 11_000; // past the periodic check's interval
    await shaper.sync(POLICY, SETTINGS);
    assert.deepEqual(errors, []);
    assert.ok(used() >= STORED_BYTES, `the count known before the reset: ${used()} B after the periodic check, ${STORED_BYTES} B known`);
  });
});

