import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort, type PolicyClient } from '@pgw/domain';
import { renderDelta } from './render-delta.js';
import { renderRuleset } from './render-ruleset.js';

const c = (last: number, port: number, blocked: PolicyClient['blocked'] = null): PolicyClient => ({
  mappingId: last,
  proxyId: 1,
  ip: parseIpv4(`192.168.2.${last}`),
  port: parsePort(port),
  blocked,
});
const policy = (clients: PolicyClient[], strict = false): GatewayPolicy => ({
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients,
  strictOutput: strict ? { allowedUids: [999], upstreams: [] } : null,
});
const delta = (a: GatewayPolicy, b: GatewayPolicy) => renderDelta(renderRuleset(a), renderRuleset(b));

describe('renderDelta', () => {
  it('pins, re-pins and unpins a client’s MAC with element changes only', () => {
    const pin = (mac: string | null) => policy([{ ...c(10, 20010), mac: mac === null ? null : parseMacAddress(mac) }]);
    assert.equal(delta(pin(null), pin('52:54:00:ab:cd:0f')), ['create element inet pgw pinned_clients { 192.168.2.10 }', 'create element inet pgw client_macs { 192.168.2.10 . 52:54:00:ab:cd:0f }', ''].join('\n'));
    assert.equal(
      delta(pin('52:54:00:ab:cd:0f'), pin('02:00:00:00:00:01')),
      ['delete element inet pgw client_macs { 192.168.2.10 . 52:54:00:ab:cd:0f }', 'create element inet pgw client_macs { 192.168.2.10 . 02:00:00:00:00:01 }', ''].join('\n'),
    );
    assert.equal(delta(pin('02:00:00:00:00:01'), pin(null)), ['delete element inet pgw pinned_clients { 192.168.2.10 }', 'delete element inet pgw client_macs { 192.168.2.10 . 02:00:00:00:00:01 }', ''].join('\n'));
  });

  it('is empty when nothing changed', () => {
    assert.equal(delta(policy([c(10, 20010)]), policy([c(10, 20010)])), '');
  });

  it('adds a new client to the three client sets', () => {
    assert.equal(
      delta(policy([c(10, 20010)]), policy([c(10, 20010), c(11, 20011)])),
      [
        'create element inet pgw lan_mapped { 192.168.2.11 }',
        'create element inet pgw client_port { 192.168.2.11 : 20011 }',
        'create element inet pgw client_ports { 192.168.2.11 . 20011 }',
        '',
      ].join('\n'),
    );
  });

  it('blocks a client: out of the DNAT sets (map by key), into the blocked set, deletes first', () => {
    assert.equal(
      delta(policy([c(10, 20010)]), policy([c(10, 20010, 'proxy_down')])),
      [
        'delete element inet pgw lan_mapped { 192.168.2.10 }',
        'delete element inet pgw client_port { 192.168.2.10 }',
        'delete element inet pgw client_ports { 192.168.2.10 . 20010 }',
        'create element inet pgw lan_blocked { 192.168.2.10 }',
        '',
      ].join('\n'),
    );
  });

  it('changes a port as delete plus create of the map element', () => {
    const text = delta(policy([c(10, 20010)]), policy([c(10, 20020)]))!;
    assert.match(text, /^delete element inet pgw client_port \{ 192\.168\.2\.10 \}$/m);
    assert.match(text, /^create element inet pgw client_port \{ 192\.168\.2\.10 : 20020 \}$/m);
    assert.doesNotMatch(text, /lan_mapped/);
  });

  it('touches one element of 4096 for a one-client change', () => {
    const many = Array.from({ length: 4096 }, (_, i) => ({ ...c(1, 20000 + i), ip: parseIpv4(`10.0.${i >> 8}.${i & 255}`) }));
    const changed = many.map((x, i) => (i === 77 ? { ...x, blocked: 'proxy_down' as const } : x));
    const text = delta({ ...policy(many), lan: { ...policy([]).lan, cidr: parseIpv4Cidr('10.0.0.0/8') } }, { ...policy(changed), lan: { ...policy([]).lan, cidr: parseIpv4Cidr('10.0.0.0/8') } })!;
    assert.equal(text.trim().split('\n').length, 4);
    assert.ok(text.length < 300);
  });

  it('refuses a delta when the table definition changes (strict output toggled)', () => {
    assert.equal(delta(policy([c(10, 20010)]), policy([c(10, 20010)], true)), null);
  });
});
