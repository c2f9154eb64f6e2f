import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interfaceNameSchema } from '@pgw/domain';
import { type RuleRow, routingCommands } from './lan-routing.js';

const lan = interfaceNameSchema.parse('ens19');
// As `ip -j rule show` prints them in a fresh namespace.
const kernelDefault: RuleRow[] = [
  { priority: 0, src: 'all', table: 'local' },
  { priority: 32766, src: 'all', table: 'main' },
  { priority: 32767, src: 'all', table: 'default' },
];
const oursFor = (iif: string): RuleRow[] => [
  { priority: 100, src: 'all', dst: '127.0.0.0', dstlen: 8, fwmark: '0x1000000', fwmask: '0x1000000', iif, table: 'local', protocol: '242' },
  { priority: 101, src: 'all', dst: '127.0.0.0', dstlen: 8, iif, action: 'blackhole', protocol: '242' },
  { priority: 102, src: 'all', table: 'local', protocol: '242' },
];

describe('routingCommands (route_localnet closure)', () => {
  it('adds the marked-local, blackhole and moved local rules before it deletes the pref 0 local rule', () => {
    assert.deepEqual(routingCommands(kernelDefault, lan), [
      'rule add pref 100 iif ens19 to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup local protocol 242',
      'rule add pref 101 iif ens19 to 127.0.0.0/8 blackhole protocol 242',
      'rule add pref 102 lookup local protocol 242',
      'rule del pref 0 table local',
    ]);
  });

  it('does nothing when the rules are in force', () => {
    assert.deepEqual(routingCommands([...oursFor('ens19'), ...kernelDefault.slice(1)], lan), []);
  });

  it('deletes a pref 0 local rule put back by hand', () => {
    assert.deepEqual(routingCommands([kernelDefault[0]!, ...oursFor('ens19')], lan), ['rule del pref 0 table local']);
  });

  it('moves the rules to a new LAN interface: the new ones first, then the old ones, never the operator\'s', () => {
    const operator: RuleRow = { priority: 100, src: 'all', iif: 'ens20', table: 'main' };
    assert.deepEqual(routingCommands([operator, ...oursFor('ens20')], lan), [
      'rule add pref 100 iif ens19 to 127.0.0.0/8 fwmark 0x1000000/0x1000000 lookup local protocol 242',
      'rule add pref 101 iif ens19 to 127.0.0.0/8 blackhole protocol 242',
      'rule del pref 100 iif ens20 fwmark 0x1000000/0x1000000 protocol 242',
      'rule del pref 101 iif ens20 protocol 242',
    ]);
  });
});
