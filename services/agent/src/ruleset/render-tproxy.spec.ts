import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parsePort, type PolicyClient } from '@pgw/domain';
import { tproxyRoutingCommands, TPROXY_MARK } from '../lan/policy-routing-tproxy.js';
import { renderRuleset } from './render-ruleset.js';
import { TPROXY_UDP_PORT } from '../listeners/udp-reply-check.js';

const LAN = parseInterfaceName('ens19');

function policy(mode: 'dnat' | 'tproxy' | undefined, strict: boolean, clients: PolicyClient[]): GatewayPolicy {
  return {
    lan: { interface: LAN, cidr: parseIpv4Cidr('192.168.2.0/24') },
    wan: { interface: parseInterfaceName('eth0') },
    dnsMode: 'drop',
    ...(mode ? { interceptMode: mode } : {}),
    clients,
    strictOutput: strict ? { allowedUids: [998], upstreams: [{ ip: parseIpv4('198.51.100.10'), port: parsePort(1080) }] } : null,
  };
}
const effective: PolicyClient = { mappingId: 1, proxyId: 1, ip: parseIpv4('192.168.2.10'), port: parsePort(20010), blocked: null };
const blocked: PolicyClient = { mappingId: 2, proxyId: 2, ip: parseIpv4('192.168.2.11'), port: parsePort(20011), blocked: 'proxy_down' };

function chainRules(script: string, name: string): string[] | null {
  const start = script.indexOf(`\tchain ${name} {`);
  if (start < 0) return null;
  return script.slice(start, script.indexOf('\n\t}', start)).split('\n').slice(1).map((l) => l.trim());
}

const mark = `0x${TPROXY_MARK.toString(16).padStart(8, '0')}`;

describe('renderRuleset in TPROXY mode (issue 15)', () => {
  const dnat = renderRuleset(policy('dnat', true, [effective, blocked]));
  const tproxy = renderRuleset(policy('tproxy', true, [effective, blocked]));

  it('an absent mode is DNAT (policies cached before issue 15 render as they did)', () => {
    assert.equal(renderRuleset(policy(undefined, true, [effective, blocked])).script, dnat.script);
  });

  it('intercepts with tproxy to 127.0.0.1:<the client’s port> and marks packet and flow; no DNAT, no LOCAL_MARK chain', () => {
    assert.equal(chainRules(tproxy.script, 'lan_dnat'), null);
    assert.equal(chainRules(tproxy.script, 'lan_mark'), null);
    assert.deepEqual(chainRules(tproxy.script, 'lan_tproxy'), [
      'type filter hook prerouting priority -140; policy accept;',
      `iifname "ens19" meta l4proto tcp tproxy ip to 127.0.0.1 : ip saddr map @client_port meta mark set meta mark | ${mark} ct mark set ct mark | ${mark} accept`,
      // Every effective client's UDP to the one transparent UDP socket (the forwarder relays or drops it).
      `iifname "ens19" meta l4proto udp tproxy ip to 127.0.0.1 : ${TPROXY_UDP_PORT} meta mark set meta mark | ${mark} ct mark set ct mark | ${mark} accept`,
      // A packet tproxy could not place (no listening socket) never goes on unmarked.
      'iifname "ens19" meta l4proto tcp reject with tcp reset',
      'iifname "ens19" drop',
    ]);
    // Nothing DNATs; only chain agent_sockets still passes the replies of DNAT-ed flows (the
    // forwarder's connections accepted before a switch to TPROXY mode).
    const withoutAgentSockets = tproxy.script.replace(/\tchain agent_sockets \{[\s\S]*?\n\t\}/, '');
    assert.match(tproxy.script, /\tchain agent_sockets \{/);
    assert.doesNotMatch(withoutAgentSockets, /\bdnat\b/);
  });

  it('judges the LAN in from_lan as DNAT mode does (blocked, unmapped, pinned, DNS: before the tproxy chain), but lets an effective client’s UDP on', () => {
    const t = chainRules(tproxy.script, 'from_lan')!;
    const d = chainRules(dnat.script, 'from_lan')!;
    assert.deepEqual(t.slice(0, -1), d.slice(0, -1));
    assert.deepEqual([d.at(-1), t.at(-1)], ['meta l4proto != tcp drop', 'meta l4proto != { tcp, udp } drop']);
    assert.ok(t.includes('udp dport 53 drop'), 'dnsMode drop: UDP/53 never reaches the tproxy chain');
    const proxyDns = chainRules(renderRuleset({ ...policy('tproxy', true, [effective]), dnsMode: 'proxy' }).script, 'from_lan')!;
    assert.ok(!proxyDns.includes('udp dport 53 drop'), 'dnsMode proxy: UDP/53 is relayed like any UDP');
    assert.deepEqual(chainRules(tproxy.script, 'forward'), chainRules(dnat.script, 'forward'));
    assert.deepEqual(tproxy.elements, dnat.elements, 'the same sets: the change is the rules only');
  });

  it('input accepts only what the tproxy rule marked, from a mapped client', () => {
    assert.deepEqual(chainRules(tproxy.script, 'lan_input'), [
      `meta mark & ${mark} == ${mark} meta l4proto tcp ip saddr @lan_mapped accept`,
      `meta mark & ${mark} == ${mark} meta l4proto udp ip saddr @lan_mapped accept`,
      'meta l4proto tcp reject with tcp reset',
      'drop',
    ]);
  });

  it('strict OUTPUT lets the LAN replies of tproxied flows out by their conntrack mark, nothing else changes', () => {
    const t = chainRules(tproxy.script, 'strict_output')!;
    const d = chainRules(dnat.script, 'strict_output')!;
    assert.deepEqual(t.slice(0, 2), ['ct state invalid drop', `oifname "ens19" ct direction reply ct mark & ${mark} == ${mark} accept`]);
    const udp = t.indexOf('meta l4proto udp ip daddr { 198.51.100.10 } meta skuid @strict_uids accept');
    assert.ok(udp > 0, 'the relay’s datagrams only to a proxy’s address, only from the strict uids');
    assert.deepEqual([...t.slice(2, udp), ...t.slice(udp + 1)], d.slice(3), 'the rest as in DNAT mode');
    const noProxy = chainRules(renderRuleset({ ...policy('tproxy', true, []), strictOutput: { allowedUids: [998], upstreams: [] } }).script, 'strict_output')!;
    assert.ok(!noProxy.some((r) => r.includes('l4proto udp')), 'no proxy: no UDP rule (an empty set is not nft)');
    assert.ok(!t.some((r) => r.includes('ct status dnat')));
  });

  it('the kernel accepts the rendered table (nft -c in a private network namespace)', (t) => {
    try {
      execFileSync('unshare', ['-n', 'nft', '-c', '-f', '-'], { input: tproxy.script, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? '');
      if (/Operation not permitted|unshare failed/.test(stderr)) return t.skip('needs root for a network namespace');
      assert.fail(stderr);
    }
  });
});

describe('tproxyRoutingCommands', () => {
  // As the kernel lists them (rtnetlink.ts): RTN_LOCAL via the loopback device (index 1).
  const route = { table: 243, type: 2, dst: '0.0.0.0/0', oif: 1, protocol: 243 };
  const rule = { priority: 99, iif: 'ens19', dst: null, fwmark: 0x2000000, fwmask: 0x2000000, action: 'lookup', table: 243, protocol: 243 } as const;

  it('adds the local route of table 243, then the fwmark rule for the LAN interface', () => {
    assert.deepEqual(tproxyRoutingCommands([], [], LAN, true), [
      'route replace local 0.0.0.0/0 dev lo table 243 protocol 243',
      'rule add pref 99 iif ens19 fwmark 0x2000000/0x2000000 lookup 243 protocol 243',
    ]);
  });

  it('does nothing when both are in place, and leaves rules of other protocols alone', () => {
    assert.deepEqual(tproxyRoutingCommands([rule, { ...rule, iif: null, fwmark: null, fwmask: null, table: 254, protocol: 4 }], [route], LAN, true), []);
  });

  it('puts the route back when it points elsewhere than the loopback device', () => {
    assert.deepEqual(tproxyRoutingCommands([rule], [{ ...route, oif: 3 }], LAN, true), ['route replace local 0.0.0.0/0 dev lo table 243 protocol 243']);
  });

  it("an operator's own routes or rules in table 243 are never replaced: TPROXY mode refuses with why, DNAT mode leaves the table alone", () => {
    // `route replace` would have replaced their default route there (the same key: table, prefix, metric).
    const theirs = { table: 243, type: 1, dst: '0.0.0.0/0', oif: 3, protocol: 4 };
    assert.throws(() => tproxyRoutingCommands([], [theirs], LAN, true), /routing table 243 holds routes or rules pgw did not add \(route 0\.0\.0\.0\/0 protocol 4\); TPROXY mode needs it to itself/);
    assert.deepEqual(tproxyRoutingCommands([], [theirs], LAN, false), []);
    const theirRule = { priority: 500, iif: null, dst: null, fwmark: 0x10, fwmask: 0xff, action: 'lookup', table: 243, protocol: 3 } as const;
    assert.throws(() => tproxyRoutingCommands([theirRule], [], LAN, true), /\(rule 500 protocol 3\)/);
    assert.deepEqual(tproxyRoutingCommands([theirRule], [], LAN, false), []);
  });

  it('moves the rule to a new LAN interface: the new rule first, then the old one goes', () => {
    assert.deepEqual(tproxyRoutingCommands([{ ...rule, iif: 'ens18' }], [route], LAN, true), [
      'rule add pref 99 iif ens19 fwmark 0x2000000/0x2000000 lookup 243 protocol 243',
      'rule del pref 99 iif ens18 fwmark 0x2000000/0x2000000 lookup 243 protocol 243',
    ]);
  });
});
