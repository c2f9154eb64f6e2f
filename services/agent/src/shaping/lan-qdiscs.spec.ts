import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatewayPolicy, policyClient } from '../policy/policy-fixtures.js';
import { isPgwQdisc, parseQdiscs, qdiscConflict } from './lan-qdiscs.js';
import { renderTcPlan } from './render-shaping.js';

const plan = (rateDownKbit: number | null, rateUpKbit: number | null) =>
  renderTcPlan(gatewayPolicy([policyClient(10, { shaping: { rateDownKbit, rateUpKbit, quotaBytes: null, quotaEpoch: 0 } })]));

// As tc -j lists them: the kernel's default root, pgw's two, and other tools'.
const DEFAULT = { kind: 'fq_codel', handle: '0:', root: true };
const OURS = [{ kind: 'htb', handle: '1:', root: true }, { kind: 'ingress', handle: 'ffff:', root: false }];
const TBF = { kind: 'tbf', handle: '5:', root: true };
const CLSACT = { kind: 'clsact', handle: 'ffff:', root: false };

describe('the LAN qdiscs pgw may remove, and those it must not replace', () => {
  it('parses tc -j qdisc show; only the root HTB 1: and the ingress ffff: are pgw\'s', () => {
    assert.deepEqual(parseQdiscs('[{"kind":"htb","handle":"1:","root":true,"refcnt":3},{"kind":"clsact","handle":"ffff:","parent":"ffff:fff1"}]'), [OURS[0], CLSACT]);
    assert.deepEqual([DEFAULT, ...OURS, TBF, CLSACT, { kind: 'htb', handle: '1:', root: false }].map(isPgwQdisc), [false, true, true, false, false, false]);
    assert.throws(() => parseQdiscs('{}'), /not a list/);
  });

  it('a root qdisc of another tool conflicts with download limits, a clsact with upload limits; the default root and pgw\'s own never', () => {
    assert.equal(qdiscConflict(plan(1_000, null), [DEFAULT, ...OURS]), null);
    assert.match(qdiscConflict(plan(1_000, null), [TBF])!, /^ens19 has a root qdisc pgw did not add \(tbf 5:\)/);
    assert.equal(qdiscConflict(plan(null, 1_000), [TBF]), null, 'upload limits add no root on the LAN');
    assert.match(qdiscConflict(plan(null, 1_000), [CLSACT])!, /ingress qdisc pgw did not add \(clsact ffff:\)/);
    assert.equal(qdiscConflict(plan(null, null), [TBF, CLSACT]), null, 'no limits: nothing to add, nothing in the way');
  });
});
