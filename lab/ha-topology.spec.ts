import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HA_ADDR, planHaTopology } from './ha-topology.js';

describe('HA pair topology plan', () => {
  const plan = planHaTopology(['192.168.2.10', '192.168.2.11'], ['198.51.100.254', '198.51.100.10'], 'pgw-lan-abcdef', 'pgw-wan-abcdef');

  it('node b gets ens19 and eth0 created inside it, their peers straight in the LAN and WAN namespaces', () => {
    assert.ok(plan.nodeB.includes('link add ens19 type veth peer name gwb0 netns pgw-lan-abcdef'));
    assert.ok(plan.nodeB.includes('link add eth0 type veth peer name gwb netns pgw-wan-abcdef'));
    assert.ok(plan.lan.includes('link set gwb0 master br0') && plan.wan.includes('link set gwb master brw'));
  });

  it('the virtual IP is on no node: node a gives it up, the clients route through it', () => {
    assert.ok(plan.nodeA.includes(`addr del ${HA_ADDR.virtualIp}/24 dev ens19`));
    assert.ok(![...plan.nodeA, ...plan.nodeB].some((c) => c.startsWith('addr add') && c.includes(`${HA_ADDR.virtualIp}/`)));
    assert.ok(plan.lan.includes(`route add default via ${HA_ADDR.virtualIp} dev br0`));
  });

  it('the bridges have fixed MACs and the clients and WAN hosts move onto them', () => {
    assert.match(plan.lan[0]!, /^link add br0 address 02:[0-9a-f:]+ type bridge/);
    assert.match(plan.wan[0]!, /^link add brw address 02:[0-9a-f:]+ type bridge/);
    assert.ok(plan.lan.includes('addr add 192.168.2.11/24 dev br0') && plan.wan.includes('addr add 198.51.100.10/24 dev brw'));
  });
});
