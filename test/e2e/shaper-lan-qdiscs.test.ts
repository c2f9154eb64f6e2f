// The agent's Shaper and the qdiscs on the LAN that are not its own (real tc and ip in a private
// network namespace, veths as LAN interfaces). It removed the root and ingress qdiscs of the plan's
// LAN before each write, whatever they were, and only there: a LAN interface changed in the console
// kept pgw's classes at their old rates and its ingress redirects to the IFB device, which went
// with the last upload limit (so the old interface's uploads were dropped); and an operator's own
// root qdisc on the LAN (a tbf, a cake) was deleted at every agent start, limits or none.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ClientShaping, type GatewayPolicy, parseInterfaceName } from '@pgw/domain';
import { gatewayPolicy, policyClient } from '../../services/agent/src/policy/policy-fixtures.js';
import { Shaper } from '../../services/agent/src/shaping/shaper.js';
import { ShaperSandbox } from '../support/namespace-bins.js';

const SETTINGS = { period: 'monthly', timeZone: 'UTC' } as const;
const NOW = Date.parse('2026-12-15T12:00:00Z');
const LIMITS: ClientShaping = { rateDownKbit: 1_000, rateUpKbit: 1_000, quotaBytes: null, quotaEpoch: 0 };
const NONE: ClientShaping = { rateDownKbit: null, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 };

/** Mapping 10 with this shaping, on LAN interface `lan`. */
const policyWith = (lan: string, shaping: ClientShaping): GatewayPolicy => {
  const policy = gatewayPolicy([policyClient(10, { shaping })]);
  return { ...policy, lan: { ...policy.lan, interface: parseInterfaceName(lan) } };
};

describe('Shaper: pgw removes its own qdiscs only, wherever it left them (real tc, private namespace)', { timeout: 60_000 }, () => {
  let sandbox: ShaperSandbox;
  const exec = (argv: string[]) => sandbox.exec(argv);
  /** The qdiscs of `dev` as "kind handle" (root ones marked). */
  const qdiscs = (dev: string) =>
    (JSON.parse(exec(['tc', '-j', 'qdisc', 'show', 'dev', dev])) as { kind: string; handle: string; root?: boolean }[]).map((q) => `${q.kind} ${q.handle}${q.root ? ' root' : ''}`);

  before(() => {
    sandbox = new ShaperSandbox('shaper-qd');
    for (const lan of ['lan0', 'lan2']) {
      exec(['ip', 'link', 'add', lan, 'type', 'veth', 'peer', 'name', `${lan}p`]);
      exec(['ip', 'link', 'set', lan, 'up']);
    }
  });

  after(() => sandbox?.destroy());

  function shaperHere(): { shaper: Shaper; errors: Error[] } {
    const errors: Error[] = [];
    return { shaper: new Shaper({ bins: sandbox.bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => NOW }), errors };
  }

  it('a LAN interface moved: the previous one keeps none of pgw\'s qdiscs (classes, ingress redirects)', async () => {
    const { shaper, errors } = shaperHere();
    await shaper.sync(policyWith('lan0', LIMITS), SETTINGS);
    assert.deepEqual(errors, []);
    assert.deepEqual(qdiscs('lan0').filter((q) => !q.startsWith('noqueue')).sort(), ['htb 1: root', 'ingress ffff:']);
    await shaper.sync(policyWith('lan2', NONE), SETTINGS);
    assert.deepEqual(errors, []);
    assert.deepEqual(qdiscs('lan0').filter((q) => !q.startsWith('noqueue')), [], 'pgw\'s qdiscs stayed on the LAN interface it left');
  });

  it('an operator\'s root qdisc on the LAN stays; limits that need the root are refused naming it', async () => {
    exec(['tc', 'qdisc', 'add', 'dev', 'lan2', 'root', 'handle', '5:', 'tbf', 'rate', '1mbit', 'burst', '32kbit', 'latency', '400ms']);
    // Every tc and ip the Shaper runs, logged: a refused plan is not tried again at every sync.
    const calls = join(sandbox.dir, 'calls.log');
    const logged = (name: 'tc' | 'ip') => {
      const file = join(sandbox.dir, `logged-${name}`);
      writeFileSync(file, `#!/bin/sh\necho "${name} $*" >> ${calls}\nexec ${sandbox.bins[name]} "$@"\n`);
      chmodSync(file, 0o755);
      return file;
    };
    const errors: Error[] = [];
    let now = NOW;
    const shaper = new Shaper({ bins: { ...sandbox.bins, tc: logged('tc'), ip: logged('ip') }, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => now });
    await shaper.sync(policyWith('lan2', NONE), SETTINGS);
    assert.equal(errors.length, 0, errors.map((e) => e.message).join('; '));
    assert.deepEqual(qdiscs('lan2'), ['tbf 5: root'], 'the operator\'s qdisc was deleted with no limit to apply');
    await shaper.sync(policyWith('lan2', LIMITS), SETTINGS);
    assert.equal(errors.length, 1, errors.map((e) => e.message).join('; '));
    assert.match(errors[0]!.message, /lan2 has a root qdisc pgw did not add \(tbf 5:\)/);
    assert.match(shaper.problem ?? '', /^tc: /);
    assert.deepEqual(qdiscs('lan2'), ['tbf 5: root'], 'the operator\'s qdisc was replaced');
    assert.doesNotMatch(readFileSync(calls, 'utf8'), /ip link add name pgw-ifb0/, 'the IFB device was made for a refused plan');
    // The next syncs (one a second in the agent) within 10 s run no tc or ip for it; after, it is looked at again.
    const before = readFileSync(calls, 'utf8');
    now += 1_000;
    await shaper.sync(policyWith('lan2', LIMITS), SETTINGS);
    assert.equal(readFileSync(calls, 'utf8'), before, 'a refused plan was tried again within 10 s');
    assert.match(shaper.problem ?? '', /did not add \(tbf 5:\)/, 'still reported');
    now += 10_000;
    await shaper.sync(policyWith('lan2', LIMITS), SETTINGS);
    assert.match(readFileSync(calls, 'utf8').slice(before.length), /tc -j qdisc show dev lan2/, 'looked at again after 10 s');
    assert.equal(errors.length, 1, 'the same problem is logged once');
  });
});
