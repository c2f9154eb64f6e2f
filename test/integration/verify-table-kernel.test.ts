// The read-back's rule baseline against the real kernel (nft in a private network namespace): two
// listings of an untouched table are equal however long apart, and a rule replaced in place or a
// chain's policy changed (the rule counts unchanged) is told apart from the rules as applied.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort } from '@pgw/domain';
import { renderRuleset } from '../../services/agent/src/ruleset/render-ruleset.js';
import { parseTableListing, verifyTable } from '../../services/agent/src/ruleset/verify-table.js';

const NS = `pgw-verify-${process.pid}`;
const nft = (args: string[], input?: string) => execFileSync('ip', ['netns', 'exec', NS, 'nft', ...args], { encoding: 'utf8', input, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
const listing = () => parseTableListing(nft(['-j', 'list', 'table', 'inet', 'pgw']));

const policy: GatewayPolicy = {
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients: [{ mappingId: 1, proxyId: 1, ip: parseIpv4('192.168.2.10'), port: parsePort(20000), blocked: null }],
  strictOutput: { allowedUids: [999], upstreams: [{ ip: parseIpv4('198.51.100.10'), port: parsePort(1080) }] },
  flowsPerClient: 64,
};

describe('the rule baseline of the read-back, real nft', () => {
  const rendered = renderRuleset(policy);
  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    nft(['-f', '-'], rendered.script);
  });
  after(() => {
    execFileSync('ip', ['netns', 'del', NS]);
  });

  it('an untouched table reads back the same rules every time; a rule replaced in place and a chain policy changed do not', () => {
    const baseline = listing().rules;
    assert.ok(baseline.size >= Object.keys(rendered.chains).length);
    assert.deepEqual(verifyTable(rendered, listing(), baseline), []);
    // Flow 23's dynamic set fills with the traffic (an element per client, as its packet path adds
    // one): that is no drift (it would re-apply the table at every read-back under load).
    nft(['add', 'element', 'inet', 'pgw', 'client_flows', '{ 192.168.2.10 ct count over 64 }']);
    assert.deepEqual(verifyTable(rendered, listing(), baseline), [], 'a counted client reads back as applied');

    const handle = /# handle (\d+)/.exec(nft(['-a', 'list', 'chain', 'inet', 'pgw', 'forward']).split('\n').slice(2).join('\n'))![1]!;
    nft(['replace', 'rule', 'inet', 'pgw', 'forward', 'handle', handle, 'accept']);
    const replaced = listing();
    assert.deepEqual(verifyTable(rendered, replaced), [], 'the counts alone see nothing');
    assert.deepEqual(verifyTable(rendered, replaced, baseline), ['chain forward: its rules differ from those applied']);

    nft(['-f', '-'], rendered.script);
    assert.deepEqual(verifyTable(rendered, listing(), baseline), [], 'the same script applied again reads back as the baseline');
    nft(['chain', 'inet', 'pgw', 'forward', '{', 'policy', 'drop', ';', '}']);
    assert.deepEqual(verifyTable(rendered, listing(), baseline), ['chain forward: its rules differ from those applied']);
  });
});
