import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GatewayPolicy, type Ipv4, type MacAddress, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort, type PolicyClient } from '@pgw/domain';
import { renderRuleset } from './render-ruleset.js';

function client(n: number, blocked: PolicyClient['blocked'] = null): PolicyClient {
  return { mappingId: n + 1, proxyId: 1, ip: parseIpv4(`10.${(n >> 8) & 255}.${n & 255}.1`), port: parsePort(20000 + n), blocked };
}

function policy(clients: PolicyClient[], strict = false): GatewayPolicy {
  return {
    lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('10.0.0.0/8') },
    wan: { interface: parseInterfaceName('eth0') },
    dnsMode: 'drop',
    clients,
    strictOutput: strict ? { allowedUids: [998, 999], upstreams: [{ ip: parseIpv4('198.51.100.10'), port: parsePort(1080) }] } : null,
  };
}

/** The rules of one chain, as rendered. */
function chainRules(script: string, name: string): string[] {
  const start = script.indexOf(`\tchain ${name} {`);
  assert.ok(start >= 0, `chain ${name} rendered`);
  const body = script.slice(start, script.indexOf('\n\t}', start)).split('\n').slice(1);
  return body.map((l) => l.trim()).filter((l) => !l.startsWith('type '));
}

describe('renderRuleset', () => {
  it('replaces only table inet pgw, atomically in one script', () => {
    const { script } = renderRuleset(policy([]));
    const statements = script.split('\n').filter((l) => /^(table|delete|flush|add|create)\b/.test(l));
    assert.deepEqual(statements.slice(0, 3), ['table inet pgw', 'delete table inet pgw', 'table inet pgw {']);
    assert.doesNotMatch(script, /flush ruleset/);
    assert.doesNotMatch(script, /pgw_guard/);
    assert.equal(script.match(/^(table|delete table) /gm)?.filter((s) => s.startsWith('delete')).length, 1);
  });

  it('renders an empty policy: no elements, every LAN packet judged', () => {
    const r = renderRuleset(policy([]));
    for (const values of Object.values(r.elements)) assert.equal(values.length, 0);
    assert.doesNotMatch(r.script, /add element/);
    assert.ok(chainRules(r.script, 'from_lan').includes('ip saddr != @lan_mapped drop'));
  });

  it('puts an effective client in the mapped set, the DNAT map and the input pairs', () => {
    const r = renderRuleset(policy([client(1)]));
    assert.deepEqual(r.elements.lan_mapped, ['10.0.1.1']);
    assert.deepEqual(r.elements.client_port, ['10.0.1.1 : 20001']);
    assert.deepEqual(r.elements.client_ports, ['10.0.1.1 . 20001']);
    assert.deepEqual(r.elements.lan_blocked, []);
    assert.match(r.script, /^add element inet pgw client_port \{ 10\.0\.1\.1 : 20001 \}$/m);
  });

  it('puts a blocked client only in the blocked set: no DNAT entry, no port', () => {
    const r = renderRuleset(policy([client(1), client(2, 'proxy_down')]));
    assert.deepEqual(r.elements.lan_blocked, ['10.0.2.1']);
    assert.ok(!r.elements.client_port.some((e) => e.startsWith('10.0.2.1 ')));
    assert.ok(!r.elements.lan_mapped.includes('10.0.2.1'));
  });

  it('keeps one rule per purpose for 4096 clients: the change is in the elements only', () => {
    const many = Array.from({ length: 4096 }, (_, i) => client(i, i % 7 === 0 ? 'proxy_unknown' : null));
    const r = renderRuleset(policy(many));
    const one = renderRuleset(policy([client(0)]));
    assert.equal(r.skeleton, one.skeleton);
    assert.deepEqual(r.chains, one.chains);
    assert.equal(r.elements.lan_blocked.length, 586);
    assert.equal(r.elements.client_port.length, 4096 - 586);
    assert.equal(r.script.split('\n').length, one.script.split('\n').length + 1);
  });

  it('judges LAN packets before NAT: IPv6, 127/8, invalid, spoofed, DNS, blocked, unmapped, non-TCP', () => {
    const r = renderRuleset(policy([client(1)]));
    assert.match(r.script, /chain lan_prerouting \{\n\t\ttype filter hook prerouting priority -150; policy accept;\n\t\tiifname "ens19" jump from_lan/);
    assert.match(r.script, /type nat hook prerouting priority dstnat;/);
    assert.deepEqual(chainRules(r.script, 'from_lan'), [
      'meta nfproto ipv6 drop',
      'ip daddr 127.0.0.0/8 drop',
      'ct state invalid drop',
      'ip saddr != 10.0.0.0/8 drop',
      'ip saddr @pinned_clients ip saddr . ether saddr != @client_macs drop',
      'udp dport 53 drop',
      'ip saddr @lan_blocked meta l4proto tcp reject with tcp reset',
      'ip saddr @lan_blocked drop',
      'ip saddr != @lan_mapped meta l4proto tcp reject with tcp reset',
      'ip saddr != @lan_mapped drop',
      'meta l4proto != tcp drop',
    ]);
  });

  it('lets the LAN reach only its own DNAT-ed forwarder port on the gateway, and forwards nothing', () => {
    const r = renderRuleset(policy([client(1)]));
    assert.deepEqual(chainRules(r.script, 'input'), ['ct state invalid drop', 'iifname "ens19" jump lan_input']);
    assert.deepEqual(chainRules(r.script, 'lan_input'), [
      'ct status dnat ip daddr 127.0.0.1 ip saddr . tcp dport @client_ports accept',
      'meta l4proto tcp reject with tcp reset',
      'drop',
    ]);
    assert.deepEqual(chainRules(r.script, 'forward'), [
      'ct state invalid drop',
      'iifname "ens19" meta l4proto tcp reject with tcp reset',
      'iifname "ens19" drop',
      'oifname "ens19" drop',
    ]);
  });

  it('drops forwarding through the interfaces carrying the LAN in its interface\'s place, by name', () => {
    // A LAN interface made a bridge port: the rules above match none of the bridge's packets, and a
    // forwarding bridge routed the clients out the WAN. By name: a wide LAN prefix may hold another
    // interface's network (docker0's 172.17/16 in 172.16/12), which keeps its routing.
    const r = renderRuleset({ ...policy([client(1)]), lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('10.0.0.0/8'), carriers: [parseInterfaceName('br-lan'), parseInterfaceName('bond0')] } });
    assert.deepEqual(chainRules(r.script, 'forward').slice(4), [
      'iifname { "br-lan", "bond0" } meta l4proto tcp reject with tcp reset',
      'iifname { "br-lan", "bond0" } drop',
      'oifname { "br-lan", "bond0" } drop',
    ]);
    assert.doesNotMatch(r.script, /ip [sd]addr 10\.0\.0\.0\/8 drop/, 'nothing by the LAN prefix in forward');
  });

  it('sends the replies of intercepted flows out by the LAN interface only, in both modes; nothing else is judged there', () => {
    // A transparent socket of a TPROXY relay sends to its client as the remote host: with the LAN's
    // route gone (link down), its packets took the default route to the WAN.
    for (const interceptMode of ['dnat', 'tproxy'] as const) {
      const r = renderRuleset({ ...policy([client(1)]), interceptMode });
      assert.match(r.script, /chain lan_only \{\n\t\ttype filter hook postrouting priority filter; policy accept;/);
      assert.deepEqual(chainRules(r.script, 'lan_only'), ['ct direction reply ct mark & 0x02000000 == 0x02000000 oifname != "ens19" drop'], interceptMode);
    }
  });

  it('lets a packet of the sockets the agent hands the forwarder (their mark) out only as a reply of an intercepted flow to the LAN or to a local peer, in both modes, strict OUTPUT or not', () => {
    // Their holder (the forwarder) can send as the remote address a socket is bound to (a UDP reply
    // socket by sendto() or a new connect(), a TPROXY connection after connect(AF_UNSPEC)); it
    // cannot change the mark.
    for (const interceptMode of ['dnat', 'tproxy'] as const) {
      for (const strict of [false, true]) {
        const r = renderRuleset({ ...policy([client(1)], strict), interceptMode });
        assert.match(r.script, /chain agent_sockets \{\n\t\ttype filter hook output priority -180; policy accept;/);
        assert.deepEqual(chainRules(r.script, 'agent_sockets'), [
          'meta mark != 0x04000000 return',
          'ct direction reply ct mark & 0x02000000 == 0x02000000 oifname "ens19" return',
          'ct direction reply ct status dnat oifname "ens19" return',
          'ct direction reply oifname "lo" ip saddr 127.0.0.0/8 return',
          'counter drop',
        ], `${interceptMode}, strict ${strict}`);
      }
    }
  });

  it('renders strict OUTPUT only when on, for every interface but lo: uids to upstream endpoints, the forwarder’s LAN replies, root’s replies, kernel answers, nothing else', () => {
    const off = renderRuleset(policy([client(1)]));
    assert.doesNotMatch(off.script, /chain (output|strict_output) \{/);
    assert.deepEqual(off.elements.upstreams, []);
    const on = renderRuleset(policy([client(1)], true));
    assert.deepEqual(on.elements.upstreams, ['198.51.100.10 . 1080']);
    assert.deepEqual(on.elements.strict_uids, ['998', '999']);
    assert.deepEqual(chainRules(on.script, 'output'), ['oifname != "lo" jump strict_output']);
    assert.deepEqual(chainRules(on.script, 'strict_output'), [
      'ct state invalid drop',
      'oifname "ens19" ct direction reply ct status dnat ip daddr . tcp sport @client_ports accept',
      'oifname "ens19" ct direction reply ct status dnat tcp flags & rst == rst accept',
      'ct direction reply ct state related accept',
      'ct direction reply meta skuid 0 accept',
      'meta l4proto tcp ip daddr . tcp dport @upstreams meta skuid @strict_uids accept',
      'meta l4proto vrrp meta skuid 0 accept',
      'meta l4proto tcp ct direction original ct state established ip daddr . tcp dport @upstreams accept',
      'meta l4proto tcp reject with tcp reset',
      'drop',
    ]);
    assert.doesNotMatch(on.script, /ct direction reply accept/, 'no reply exception that any uid could use');
    assert.notEqual(on.skeleton, off.skeleton);
  });

  it('pins a client’s MAC: its IP in the pinned set and the IP . MAC pair in the allowed pairs; unpinned clients in neither', () => {
    const mac = parseMacAddress('52:54:00:AB:CD:0F');
    const r = renderRuleset(policy([{ ...client(1), mac }, client(2), { ...client(3, 'proxy_down'), mac: parseMacAddress('02:00:00:00:00:03') }]));
    assert.deepEqual(r.elements.pinned_clients, ['10.0.1.1', '10.0.3.1']);
    assert.deepEqual(r.elements.client_macs, ['10.0.1.1 . 52:54:00:ab:cd:0f', '10.0.3.1 . 02:00:00:00:00:03']);
    assert.match(r.script, /^add element inet pgw client_macs \{ 10\.0\.1\.1 \. 52:54:00:ab:cd:0f, 10\.0\.3\.1 \. 02:00:00:00:00:03 \}$/m);
    assert.match(r.skeleton, /set client_macs \{ type ipv4_addr \. ether_addr; \}/);
    // A pin is a set element: pinning or unpinning never changes the table definition.
    assert.equal(r.skeleton, renderRuleset(policy([client(1)])).skeleton);
  });

  it('takes VRRP only from an HA pair’s peer, on its link, with TTL 255, after the LAN’s own drop; no VRRP rule on a single gateway', () => {
    const peer = { interface: parseInterfaceName('eth1'), ip: parseIpv4('198.51.100.2') };
    assert.deepEqual(chainRules(renderRuleset({ ...policy([client(1)]), vrrpPeer: peer }).script, 'input'), [
      'ct state invalid drop',
      'iifname "ens19" jump lan_input',
      'meta l4proto vrrp iifname "eth1" ip saddr 198.51.100.2 ip ttl 255 accept',
      'meta l4proto vrrp drop',
    ]);
    assert.ok(!renderRuleset(policy([client(1)])).script.includes('vrrp iifname'));
    assert.throws(() => renderRuleset({ ...policy([]), vrrpPeer: { ...peer, ip: '198.51.100.2 accept' as Ipv4 } }), /not an IPv4 address/);
    assert.throws(() => renderRuleset({ ...policy([]), vrrpPeer: { ...peer, interface: 'eth1" accept' as never } }), /not an interface name/);
  });

  it('refuses values forced past the types: injection never reaches the script', () => {
    const evil = ['10.0.0.1; flush ruleset', '10.0.0.1 }', '10.0.0.1\nflush ruleset', '"10.0.0.1"', '10.0.0.1 , 10.0.0.2'];
    for (const ip of evil) {
      const bad = { ...client(1), ip: ip as Ipv4 };
      assert.throws(() => renderRuleset(policy([bad])), /refusing to render .*not an IPv4 address/);
    }
    for (const name of ['eth0"; flush ruleset; "', 'eth0 }', 'eth\n0', 'a'.repeat(16), '']) {
      const bad = { ...policy([]), wan: { interface: name as never } };
      assert.throws(() => renderRuleset(bad), /not an interface name/);
    }
    assert.throws(() => renderRuleset(policy([{ ...client(1), port: 70000 as never }])), /not a port/);
    for (const mac of ['52:54:00:ab:cd:0f }', '52:54:00:ab:cd', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '52:54:00:AB:CD:0F', '52-54-00-ab-cd-0f']) {
      assert.throws(() => renderRuleset(policy([{ ...client(1), mac: mac as MacAddress }])), /refusing to render .*not a unicast MAC address/, mac);
    }
    assert.throws(() => renderRuleset({ ...policy([]), lan: { ...policy([]).lan, cidr: '10.0.0.0/8 accept' as never } }), /not an IPv4 network/);
    for (const cap of [0, 1.5, -1, 65_537, '64 } accept' as never]) {
      assert.throws(() => renderRuleset({ ...policy([]), flowsPerClient: cap }), /not a count of connections/, String(cap));
    }
  });

  it('caps each mapped client\'s tracked connections after the mapped check, TCP refused with a reset (flow 23); no cap without the setting', () => {
    const capped = renderRuleset({ ...policy([client(1)]), flowsPerClient: 64 });
    const fromLan = capped.skeleton.slice(capped.skeleton.indexOf('chain from_lan'));
    const rules = fromLan.slice(0, fromLan.indexOf('\n\t}')).split('\n').map((l) => l.trim());
    // Last: only a mapped client's connection of a protocol it may use is counted.
    assert.equal(rules.at(-2), 'meta l4proto != tcp drop');
    assert.equal(rules.at(-1), 'ct state new ct status & confirmed == 0 add @client_flows { ip saddr ct count over 64 } counter jump over_flow_cap');
    // Each refusal counted for its client first, in a rule of its own.
    assert.match(capped.skeleton, /\tchain over_flow_cap \{\n\t\tadd @flow_cap_refused \{ ip saddr \}\n\t\tmeta l4proto tcp reject with tcp reset\n\t\tdrop\n\t\}/);
    assert.equal(capped.chains.over_flow_cap, 3);
    assert.match(capped.skeleton, /\tset client_flows \{ type ipv4_addr; size 65535; flags dynamic; \}/);
    assert.match(capped.skeleton, /\tset flow_cap_refused \{ type ipv4_addr; size 65535; flags dynamic; counter; \}/);
    for (const name of ['client_flows', 'flow_cap_refused']) assert.ok(!(name in capped.elements), `the packet path fills ${name}: no elements rendered or read back`);
    const uncapped = renderRuleset(policy([client(1)]));
    assert.doesNotMatch(uncapped.skeleton, /client_flows|ct count|over_flow_cap|flow_cap_refused/);
  });

  it('limits each mapped client\'s new TCP connections a second before its cap counts them, the excess dropped (flow 25); in both modes, none without the setting', () => {
    for (const interceptMode of ['dnat', 'tproxy'] as const) {
      const limited = renderRuleset({ ...policy([client(1)]), interceptMode, tcpNewPerSecond: 500, flowsPerClient: 64 });
      const fromLan = limited.skeleton.slice(limited.skeleton.indexOf('chain from_lan'));
      const rules = fromLan.slice(0, fromLan.indexOf('\n\t}')).split('\n').map((l) => l.trim());
      assert.match(rules.at(-3)!, /^meta l4proto != (tcp|\{ tcp, udp \}) drop$/, interceptMode);
      assert.equal(rules.at(-2), 'meta l4proto tcp ct state new ct status & confirmed == 0 add @tcp_new_rate { ip saddr limit rate over 500/second burst 500 packets } counter jump over_tcp_rate', interceptMode);
      assert.match(rules.at(-1)!, /ct count over 64 /, `${interceptMode}: the cap counts only what the rate let through`);
      // Each drop counted for its client first, in a rule of its own (the agent's metrics read the set).
      assert.match(limited.skeleton, /\tchain over_tcp_rate \{\n\t\tadd @tcp_rate_refused \{ ip saddr \}\n\t\tdrop\n\t\}/);
      assert.match(limited.skeleton, /\tset tcp_new_rate \{ type ipv4_addr; size 65535; flags dynamic; \}/);
      assert.match(limited.skeleton, /\tset tcp_rate_refused \{ type ipv4_addr; size 65535; flags dynamic; counter; \}/);
      for (const name of ['tcp_new_rate', 'tcp_rate_refused']) assert.ok(!(name in limited.elements), `the packet path fills ${name}: no elements rendered or read back`);
    }
    assert.doesNotMatch(renderRuleset(policy([client(1)])).skeleton, /tcp_new_rate|over_tcp_rate|tcp_rate_refused/);
    for (const rate of [0, 2.5, -1, 100_001, '5/second } accept' as never]) {
      assert.throws(() => renderRuleset({ ...policy([]), tcpNewPerSecond: rate }), /not a rate of connections/, String(rate));
    }
  });

  it('TPROXY: limits each client\'s unanswered UDP before the shared socket, after the TCP placement (flow 24); nothing in DNAT mode or without the setting', () => {
    const limited = renderRuleset({ ...policy([client(1)]), interceptMode: 'tproxy', udpNewPerSecond: 200 });
    const chain = limited.skeleton.slice(limited.skeleton.indexOf('chain lan_tproxy'));
    const rules = chain.slice(0, chain.indexOf('\n\t}')).split('\n').map((l) => l.trim()).slice(2);
    assert.match(rules[0]!, /meta l4proto tcp tproxy/);
    assert.equal(rules[1], 'iifname "ens19" meta l4proto udp socket transparent 1 meta mark set meta mark | 0x02000000 ct mark set ct mark | 0x02000000 accept', 'a flow\'s reply socket first');
    assert.equal(rules[2], 'iifname "ens19" meta l4proto udp ct state new add @udp_new_rate { ip saddr limit rate over 200/second burst 200 packets } counter drop');
    assert.match(rules[3]!, /meta l4proto udp tproxy ip to 127\.0\.0\.1 : 15301/);
    assert.match(limited.skeleton, /\tset udp_new_rate \{ type ipv4_addr; size 65535; flags dynamic; \}/);
    assert.ok(!('udp_new_rate' in limited.elements), 'the packet path fills udp_new_rate: no elements rendered or read back');
    assert.doesNotMatch(renderRuleset({ ...policy([client(1)]), udpNewPerSecond: 200 }).skeleton, /udp_new_rate/, 'DNAT mode drops UDP anyway');
    assert.doesNotMatch(renderRuleset({ ...policy([client(1)]), interceptMode: 'tproxy' }).skeleton, /udp_new_rate/);
    for (const rate of [0, 2.5, -1, 100_001, '5/second } accept' as never]) {
      assert.throws(() => renderRuleset({ ...policy([]), interceptMode: 'tproxy', udpNewPerSecond: rate }), /not a rate of datagrams/, String(rate));
    }
  });
});
