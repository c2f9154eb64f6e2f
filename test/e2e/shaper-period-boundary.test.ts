// The agent's Shaper at the end of a quota period (real nft and tc in a private network namespace,
// the clock the Shaper is given). The quota poll moves the table to the new period with a sync; a
// sync of the policy last applied must not take the place of a newer policy waiting its turn (one
// the agent just handed over: a quota lowered, a client unmapped), or the kernel keeps the older
// one until the agent's next sync.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort, type PolicyClient } from '@pgw/domain';
import { quotaName } from '../../services/agent/src/quota/quota-table.js';
import { Shaper } from '../../services/agent/src/shaping/shaper.js';
import { ShaperSandbox } from '../support/namespace-bins.js';
import { quotaUsageSample } from '../support/usage-sample.js';

const SETTINGS = { period: 'monthly', timeZone: 'UTC' } as const;

/** A policy whose clients (mapping ids given) each have a quota, and nothing else. */
function policyWith(mappingIds: readonly number[]): GatewayPolicy {
  const clients: PolicyClient[] = mappingIds.map((mappingId) => ({
    mappingId,
    proxyId: 1,
    ip: parseIpv4(`192.168.2.${mappingId}`),
    port: parsePort(20000 + mappingId),
    blocked: null,
    shaping: { rateDownKbit: null, rateUpKbit: null, quotaBytes: 1_000_000_000, quotaEpoch: 0 },
  }));
  return { lan: { interface: parseInterfaceName('lan0'), cidr: parseIpv4Cidr('192.168.2.0/24') }, wan: { interface: parseInterfaceName('wan0') }, dnsMode: 'drop', clients, strictOutput: null };
}

describe('Shaper at the end of a quota period (real nft, private namespace)', { timeout: 60_000 }, () => {
  let sandbox: ShaperSandbox;
  let shaper: Shaper;
  const errors: Error[] = [];
  let now = Date.parse('2026-12-31T23:59:00Z');

  before(() => {
    sandbox = new ShaperSandbox('shaper-period');
    shaper = new Shaper({ bins: sandbox.bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => now });
  });

  after(() => sandbox?.destroy());

  /** The bytes a quota object of table inet pgw_quota has counted. */
  const usedOf = (name: string) => {
    const listed = JSON.parse(sandbox.nft('-j', 'list', 'quotas', 'table', 'inet', 'pgw_quota')) as { nftables: { quota?: { name: string; used: number } }[] };
    return listed.nftables.find((item) => item.quota?.name === name)?.quota?.used ?? -1;
  };

  /** The usage sample this node publishes: the client's count in the period of `at`. */
  const usageSample = (mappingId: number, usedBytes: number, at: number) => quotaUsageSample({ mappingId, ip: `192.168.2.${mappingId}`, usedBytes, limitBytes: 1_000_000_000 }, at, SETTINGS);

  const quotaObjects = () => {
    const listed = JSON.parse(sandbox.nft('-j', 'list', 'quotas', 'table', 'inet', 'pgw_quota')) as { nftables: { quota?: { name: string } }[] };
    return listed.nftables.flatMap((item) => (item.quota ? [item.quota.name] : [])).sort();
  };

  it('the poll that crosses into the new period applies the newest policy handed over, not the one it last applied', async () => {
    await shaper.sync(policyWith([1]), SETTINGS);
    assert.deepEqual(errors, []);
    assert.equal(shaper.applied?.window.key, 'm202612');

    // A sync under way, a newer policy waiting for it, and the poll after midnight.
    const underWay = shaper.sync(policyWith([1, 2]), SETTINGS);
    const newest = shaper.sync(policyWith([1, 3]), SETTINGS);
    now = Date.parse('2027-01-01T00:00:01Z');
    const report = await shaper.exceeded();
    await Promise.all([underWay, newest]);

    assert.deepEqual(errors, []);
    assert.deepEqual(shaper.applied?.policy.clients.map((c) => c.mappingId), [1, 3], 'the newest policy is the one in force');
    assert.equal(shaper.applied?.window.key, 'm202701');
    assert.deepEqual(quotaObjects(), [quotaName(1, 0, 'm202701'), quotaName(3, 0, 'm202701')].sort(), 'the kernel counts the newest policy\'s clients, in the new period');
    assert.equal(report.size, 0, 'nobody is over quota in a fresh period');
  });

  it('a clock set ahead by mistake and corrected: the period follows the clock back, and the real period end still resets', async () => {
    const quota = new Shaper({ bins: sandbox.bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => now });
    now = Date.parse('2027-01-15T12:00:00Z');
    await quota.sync(policyWith([1]), SETTINGS);
    // A typo in the date: a month ahead for a while, then put right.
    now = Date.parse('2027-02-15T12:00:00Z');
    await quota.sync(policyWith([1]), SETTINGS);
    assert.equal(quota.applied?.window.key, 'm202702');
    now = Date.parse('2027-01-15T12:05:00Z');
    await quota.sync(policyWith([1]), SETTINGS);
    assert.deepEqual(errors, []);
    assert.equal(quota.applied?.window.key, 'm202701', 'the period of the clock as it is now, not the one the wrong clock reached');
    assert.deepEqual(quotaObjects(), [quotaName(1, 0, 'm202701')]);
  });

  it("a clock set ahead and corrected keeps the real period's count: the client over its quota stays counted, not rebuilt from zero", async () => {
    const shaper = new Shaper({ bins: sandbox.bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => now });
    now = Date.parse('2027-03-15T12:00:00Z');
    // 900 MB of the client's 1 GB counted this period (what the node published).
    await shaper.seed([usageSample(1, 900_000_000, now)]);
    await shaper.sync(policyWith([1]), SETTINGS);
    assert.equal(usedOf(quotaName(1, 0, 'm202703')), 900_000_000);
    // A month ahead for a while: the node's next sample is of that period (it overwrites its own in Redis).
    now = Date.parse('2027-04-15T12:00:00Z');
    await shaper.sync(policyWith([1]), SETTINGS);
    await shaper.seed([usageSample(1, 0, now)]);
    now = Date.parse('2027-03-15T12:05:00Z');
    await shaper.sync(policyWith([1]), SETTINGS);
    assert.deepEqual(errors, []);
    assert.equal(shaper.applied?.window.key, 'm202703');
    assert.ok(usedOf(quotaName(1, 0, 'm202703')) >= 900_000_000, `the real period's count after the clock came back: ${usedOf(quotaName(1, 0, 'm202703'))} bytes`);
  });
});
