import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interfaceNameSchema } from '@pgw/domain';
import { routingCommands } from './lan-routing.js';
import type { RoutingRule } from '../netlink/rtnetlink.js';

const lan = interfaceNameSchema.parse('ens19');
const rule = (r: Partial<RoutingRule> & Pick<RoutingRule, 'priority' | 'table'>): RoutingRule => ({ iif: null, dst: null, fwmark: null, fwmask: null, action: 'lookup', protocol: 2, ...r });
// As the kernel lists them in a fresh namespace (protocol 2: RTPROT_KERNEL).
const kernelDefault: RoutingRule[] = [rule({ priority: 0, table: 255 }), rule({ priority: 32766, table: 254 }), rule({ priority: 32767, table: 253 })];
const oursFor = (iif: string): RoutingRule[] => [
  rule({ priority: 100, iif, dst: '127.0.0.0/8', fwmark: 0x1000000, fwmask: 0x1000000, table: 255, protocol: 242 }),
  rule({ priority: 101, iif, dst: '127.0.0.0/8', action: 'blackhole', table: 0, protocol: 242 }),
  rule({ priority: 102, table: 255 }),
];

describe('routingCommands (route_localnet closure)', () => {
  it('adds the marked-local, blackhole and moved local rules before it deletes the pref 0 local rule', () => {
    assert.deepEqual(routingCommands(kernelDefault, lan), [
      'rule add pref 100 iif ens19 to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup local protocol 242',
      'rule add pref 101 iif ens19 to 127.0.0.0/8 blackhole protocol 242',
      'rule add pref 102 lookup local protocol kernel',
      'rule del pref 0 table local',
    ]);
  });

  it('an older pgw-protocol local rule is replaced by one with the kernel\'s protocol, added first', () => {
    const older = [...oursFor('ens19').slice(0, 2), rule({ priority: 102, table: 255, protocol: 242 }), ...kernelDefault.slice(1)];
    assert.deepEqual(routingCommands(older, lan), ['rule add pref 102 lookup local protocol kernel', 'rule del pref 102 lookup 255 protocol 242']);
  });

  it('does nothing when the rules are in force', () => {
    assert.deepEqual(routingCommands([...oursFor('ens19'), ...kernelDefault.slice(1)], lan), []);
  });

  it('deletes a pref 0 local rule put back by hand', () => {
    assert.deepEqual(routingCommands([kernelDefault[0]!, ...oursFor('ens19')], lan), ['rule del pref 0 table local']);
  });

  it('replaces a rule of ours that was edited (same priority, another destination or mark)', () => {
    const edited = oursFor('ens19').map((r) => (r.priority === 100 ? { ...r, fwmark: 0x1, fwmask: 0x1 } : r));
    assert.deepEqual(routingCommands(edited, lan), [
      'rule add pref 100 iif ens19 to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup local protocol 242',
      'rule del pref 100 iif ens19 to 127.0.0.0/8 fwmark 0x1/0x1 lookup 255 protocol 242',
    ]);
  });

  it('names the action in a delete: a rule of ours that differs from a wanted one only by it goes, not the wanted one', () => {
    const lookupMain = rule({ priority: 101, iif: 'ens19', dst: '127.0.0.0/8', table: 254, protocol: 242 });
    assert.deepEqual(routingCommands([...oursFor('ens19'), lookupMain], lan), ['rule del pref 101 iif ens19 to 127.0.0.0/8 lookup 254 protocol 242']);
  });

  it('moves the rules to a new LAN interface: the new ones first, then the old ones, never the operator\'s', () => {
    const operator = rule({ priority: 100, iif: 'ens20', table: 254, protocol: 4 });
    assert.deepEqual(routingCommands([operator, ...oursFor('ens20')], lan), [
      'rule add pref 100 iif ens19 to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup local protocol 242',
      'rule add pref 101 iif ens19 to 127.0.0.0/8 blackhole protocol 242',
      'rule del pref 100 iif ens20 to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup 255 protocol 242',
      'rule del pref 101 iif ens20 to 127.0.0.0/8 blackhole protocol 242',
    ]);
  });
});
