// The agent's Shaper where tc fails or reads back its own way (real nft and tc in a private network
// namespace with a veth as the LAN). A byte quota is the kernel's own enforcement (table inet
// pgw_quota): it must not wait on the rate limits. Before, one sync applied tc, then the quota, in
// one try: every tc failure (a missing ifb or htb module, a device gone) left no quota table at
// all, and an over-quota client got unlimited traffic for as long as the fault lasted. And tc
// prints a rate of 1 Gbit/s or more truncated to whole Mbit/s, which the read-back took for a
// different rate: such a mapping failed every sync, its quota with it.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type ClientShaping, type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort } from '@pgw/domain';
import { quotaName } from '../../services/agent/src/quota/quota-table.js';
import { Shaper } from '../../services/agent/src/shaping/shaper.js';
import { ShaperSandbox } from '../support/namespace-bins.js';

const SETTINGS = { period: 'monthly', timeZone: 'UTC' } as const;
const NOW = Date.parse('2026-12-15T12:00:00Z');

/** One client (mapping 1) with this shaping, on LAN interface `lan`. */
function policyWith(lan: string, shaping: ClientShaping): GatewayPolicy {
  return {
    lan: { interface: parseInterfaceName(lan), cidr: parseIpv4Cidr('192.168.2.0/24') },
    wan: { interface: parseInterfaceName('wan0') },
    dnsMode: 'drop',
    clients: [{ mappingId: 1, proxyId: 1, ip: parseIpv4('192.168.2.10'), port: parsePort(20010), blocked: null, shaping }],
    strictOutput: null,
  };
}

describe('Shaper: the quota holds whatever tc does (real nft and tc, private namespace)', { timeout: 60_000 }, () => {
  let sandbox: ShaperSandbox;
  const exec = (argv: string[]) => sandbox.exec(argv);

  before(() => {
    sandbox = new ShaperSandbox('shaper-tc');
    exec(['ip', 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    exec(['ip', 'link', 'set', 'lan0', 'up']);
  });

  after(() => sandbox?.destroy());

  /** A Shaper on this namespace's nft, tc and ip, its errors collected. */
  function shaperHere(): { shaper: Shaper; errors: Error[] } {
    const errors: Error[] = [];
    return { shaper: new Shaper({ bins: sandbox.bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => NOW }), errors };
  }

  const quotaObjects = () => {
    const listed = JSON.parse(exec(['nft', '-j', 'list', 'quotas', 'table', 'inet', 'pgw_quota'])) as { nftables: { quota?: { name: string } }[] };
    return listed.nftables.flatMap((item) => (item.quota ? [item.quota.name] : []));
  };
  // Each test starts from an empty namespace (no table, no qdisc of ours).
  afterEach(() => {
    for (const argv of [['nft', 'delete', 'table', 'inet', 'pgw_quota'], ['nft', 'delete', 'table', 'inet', 'pgw_acct'], ['tc', 'qdisc', 'del', 'dev', 'lan0', 'root']]) {
      try {
        exec(argv);
      } catch {
        // Not there: that test made none.
      }
    }
  });

  it('a rate of 1 Gbit/s or more, which tc shows in whole Mbit/s, is applied and read back as applied, its quota with it', async () => {
    const { shaper, errors } = shaperHere();
    await shaper.sync(policyWith('lan0', { rateDownKbit: 1_234_567, rateUpKbit: null, quotaBytes: 1_000_000_000, quotaEpoch: 0 }), SETTINGS);
    assert.deepEqual(errors.map((e) => e.message), []);
    assert.match(exec(['tc', 'class', 'show', 'dev', 'lan0']), /rate 1234Mbit/);
    assert.deepEqual(quotaObjects(), [quotaName(1, 0, 'm202612')]);
  });

  it('tc failing (the LAN device gone): the error is reported, and the quota table is in force all the same', async () => {
    const { shaper, errors } = shaperHere();
    await shaper.sync(policyWith('lan9', { rateDownKbit: 10_000, rateUpKbit: null, quotaBytes: 1_000_000_000, quotaEpoch: 0 }), SETTINGS);
    assert.equal(errors.length, 1, errors.map((e) => e.message).join('; '));
    assert.match(errors[0]!.message, /tc|lan9/);
    assert.deepEqual(quotaObjects(), [quotaName(1, 0, 'm202612')], 'the quota is counted and enforced without the rate limit');
    assert.equal(shaper.applied?.policy.clients[0]?.mappingId, 1, 'the quota poll and the self-heal work on it');
  });

  it('no IFB device to be had (a kernel without the ifb module, a container): one client\'s upload limit leaves every download limit in force, the error reported', async () => {
    // `ip` as it answers where the ifb module cannot load; everything else is the namespace's own ip.
    const ip = join(sandbox.dir, 'ip-without-ifb');
    writeFileSync(ip, `#!/bin/sh\ncase "$*" in *"type ifb"*) echo "Error: Unknown device type." >&2; exit 2;; esac\nexec ${sandbox.bins.ip} "$@"\n`);
    chmodSync(ip, 0o755);
    const errors: Error[] = [];
    const shaper = new Shaper({ bins: { ...sandbox.bins, ip }, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => NOW });
    const two = policyWith('lan0', { rateDownKbit: 10_000, rateUpKbit: null, quotaBytes: null, quotaEpoch: 0 });
    const uploader = { ...two.clients[0]!, mappingId: 2, ip: parseIpv4('192.168.2.11'), port: parsePort(20011), shaping: { rateDownKbit: null, rateUpKbit: 5_000, quotaBytes: null, quotaEpoch: 0 } };
    await shaper.sync({ ...two, clients: [two.clients[0]!, uploader] }, SETTINGS);
    assert.match(exec(['tc', 'class', 'show', 'dev', 'lan0']), /rate 10Mbit/, 'the download limit of the client without an upload limit');
    assert.ok(errors.length >= 1 && errors.some((e) => /ifb/i.test(e.message)), errors.map((e) => e.message).join('; '));
    // The status says so (not ok) at this sync and the next, which leaves tc as it is meanwhile.
    assert.match(shaper.problem ?? '', /^tc: no IFB device/);
    const writes = errors.length;
    await shaper.sync({ ...two, clients: [two.clients[0]!, uploader] }, SETTINGS);
    assert.match(shaper.problem ?? '', /^tc: no IFB device/);
    assert.equal(errors.length, writes, 'not tried again (nor logged again) at every sync');
    assert.match(exec(['tc', 'class', 'show', 'dev', 'lan0']), /rate 10Mbit/);
    // Without the upload limit the plan needs no IFB: in force, nothing to report.
    await shaper.sync(two, SETTINGS);
    assert.equal(shaper.problem, null);
  });

  it('the read-back sees the ingress qdisc and the filters, not only the classes: an upload path removed by hand is put back at the next check', async () => {
    let now = NOW;
    const errors: Error[] = [];
    // tc as the namespace has it, each call's arguments logged: a read-back that passes writes nothing.
    const log = join(sandbox.dir, 'tc.log');
    const tc = join(sandbox.dir, 'tc-logged');
    writeFileSync(tc, `#!/bin/sh\necho "$*" >> ${log}\nexec ${sandbox.bins.tc} "$@"\n`);
    chmodSync(tc, 0o755);
    const writes = () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('qdisc del') || l.startsWith('-batch')).length : 0);
    const shaper = new Shaper({ bins: { ...sandbox.bins, tc }, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => now });
    const both = policyWith('lan0', { rateDownKbit: 10_000, rateUpKbit: 5_000, quotaBytes: null, quotaEpoch: 0 });
    await shaper.sync(both, SETTINGS);
    assert.deepEqual(errors.map((e) => e.message), []);
    const ingress = () => exec(['tc', 'qdisc', 'show', 'dev', 'lan0']).includes('qdisc ingress ffff:');
    const filters = (parent: string) => exec(['tc', 'filter', 'show', 'dev', 'lan0', 'parent', parent]).split('\n').filter((l) => /fh \S+::\S+/.test(l)).length;
    assert.ok(ingress());
    // The uploads' redirect to the IFB removed (a LAN device re-created, a tool's cleanup); the classes on the IFB stay.
    exec(['tc', 'qdisc', 'del', 'dev', 'lan0', 'ingress']);
    exec(['tc', 'filter', 'del', 'dev', 'lan0', 'parent', '1:']);
    now += 11_000; // past the read-back interval
    await shaper.sync(both, SETTINGS);
    assert.deepEqual(errors.map((e) => e.message), []);
    assert.ok(ingress(), 'the ingress qdisc is back');
    assert.equal(filters('ffff:'), 1, 'the redirect of the client\'s uploads');
    assert.equal(filters('1:'), 1, 'the download class\'s filter');
    // Untouched since: the next read-back finds everything as planned and writes nothing.
    const before = writes();
    now += 11_000;
    await shaper.sync(both, SETTINGS);
    assert.equal(writes(), before, 'a read-back of the untouched plan rewrote tc');
    exec(['tc', 'qdisc', 'del', 'dev', 'lan0', 'ingress']);
  });

  it('a tc plan that cannot be rendered (a rate out of range in a row written by hand) is a reported problem, not a rejected sync (which ended the agent)', async () => {
    const errors: Error[] = [];
    const shaper = new Shaper({ bins: sandbox.bins, onError: (e) => errors.push(e), onWriter: () => undefined, now: () => NOW });
    await shaper.sync(policyWith('lan0', { rateDownKbit: 0, rateUpKbit: null, quotaBytes: 1_000_000_000, quotaEpoch: 0 }), SETTINGS);
    assert.match(shaper.problem ?? '', /^tc: refusing to render 0: not a rate in kbit\/s/);
    assert.deepEqual(quotaObjects(), [quotaName(1, 0, 'm202612')], 'the quota is in force all the same');
  });
});

