import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PolicyClient } from '@pgw/domain';
import type { PolicyBuild } from '../policy/build-policy.js';
import { gatewayPolicy, policyClient } from '../policy/policy-fixtures.js';
import { heldQuotaCounts, QuotaBlocks, quotaStemsAtBoot } from './quota-block.js';

const quota = { rateDownKbit: null, rateUpKbit: null, quotaBytes: 10_000_000, quotaEpoch: 0 };
const client = policyClient;
const build = (clients: PolicyClient[]): PolicyBuild => ({
  policy: gatewayPolicy(clients),
  rejected: [],
  refusals: [],
});

test('nothing over quota: the very same build', () => {
  const blocks = new QuotaBlocks();
  const b = build([client(10, { shaping: quota })]);
  assert.equal(blocks.apply(b), b);
  assert.equal(blocks.setOver(['q99_0']), true);
  assert.equal(blocks.apply(b), b, 'an object of no client in this build');
});

test('an effective client over quota is blocked quota_exceeded; another reason is kept; the same derived build twice', () => {
  const blocks = new QuotaBlocks();
  const b = build([client(10, { shaping: quota }), client(11, { shaping: quota, blocked: 'proxy_down' }), client(12)]);
  blocks.setOver(['q10_0', 'q11_0']);
  const derived = blocks.apply(b);
  assert.notEqual(derived, b);
  assert.deepEqual(
    derived.policy.clients.map((c) => c.blocked),
    ['quota_exceeded', 'proxy_down', null],
  );
  assert.equal(blocks.apply(b), derived, 'memo: identity for the reconciler');
  assert.equal(derived.policy.clients[2], b.policy.clients[2], 'untouched clients are the same objects');
  assert.equal(blocks.setOver(['q11_0', 'q10_0']), false, 'same names in another order: no change');
});

test('a reset (new epoch) is not over, before any poll', () => {
  const blocks = new QuotaBlocks();
  blocks.setOver(['q10_0']);
  const reset = build([client(10, { shaping: { ...quota, quotaEpoch: 1 } })]);
  assert.equal(blocks.apply(reset), reset);
});

test('held stems (the state file\'s at boot) count as over beside the polled ones until released, or until their period ends', () => {
  const blocks = new QuotaBlocks();
  const b = build([client(10, { shaping: quota }), client(11, { shaping: quota }), client(12, { shaping: quota, blocked: 'proxy_down' })]);
  blocks.hold(['q10_0', 'q12_0'], 'm202612');
  assert.deepEqual(blocks.apply(b).policy.clients.map((c) => c.blocked), ['quota_exceeded', null, 'proxy_down']);
  assert.deepEqual(blocks.stems, ['q10_0', 'q12_0'], 'kept for the next boot, whatever else blocks the client');
  assert.equal(blocks.setOver([]), false, 'a poll from zero counts does not lift a held block');
  assert.equal(blocks.setOver(['q11_0']), true);
  assert.deepEqual(blocks.apply(b).policy.clients.map((c) => c.blocked), ['quota_exceeded', 'quota_exceeded', 'proxy_down']);
  assert.equal(blocks.releaseHeldOutside('m202612'), false, 'the same period: still held');
  assert.equal(blocks.releaseHeld(), true);
  assert.deepEqual(blocks.apply(b).policy.clients.map((c) => c.blocked), [null, 'quota_exceeded', 'proxy_down']);
  assert.equal(blocks.releaseHeld(), false, 'nothing held any more');
  blocks.hold(['q10_0'], 'm202612');
  assert.equal(blocks.releaseHeldOutside('m202701'), true, 'a new period: its objects count from zero by design');
  assert.deepEqual(blocks.stems, ['q11_0']);
});

test('quotaStemsAtBoot: the saved stems of the period in force, none of another or of an unknown one', () => {
  assert.deepEqual(quotaStemsAtBoot(['q10_0', 'q11_3'], 'm202612', 'm202612'), ['q10_0', 'q11_3']);
  assert.deepEqual(quotaStemsAtBoot(['q10_0'], 'm202611', 'm202612'), [], 'written in an earlier period');
  assert.deepEqual(quotaStemsAtBoot(['q10_0'], null, 'm202612'), [], 'a file from before the period key was kept');
  assert.deepEqual(quotaStemsAtBoot(['q10_0'], 'm202612', null), [], 'no quota settings now');
});

test('heldQuotaCounts: each held stem used up to the limit the saved policy gave it, in the held period; other stems and clients none', () => {
  const saved = gatewayPolicy([
    client(10, { shaping: quota, blocked: 'quota_exceeded' }),
    client(11, { shaping: { ...quota, quotaBytes: 5_000, quotaEpoch: 2 } }),
    client(12, { shaping: { ...quota, quotaBytes: null } }),
    client(13),
  ]);
  assert.deepEqual(
    [...heldQuotaCounts(['q10_0', 'q11_2', 'q12_0', 'q13_0', 'q11_1'], 'm202612', saved)],
    [
      ['q10_0_m202612', 10_000_000],
      ['q11_2_m202612', 5_000],
    ],
  );
  assert.deepEqual([...heldQuotaCounts(['q10_0'], 'm202612', null)], [], 'no saved policy: nothing known');
});
