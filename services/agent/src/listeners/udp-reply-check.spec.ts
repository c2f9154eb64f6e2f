import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayAddresses, type GatewayPolicy } from '@pgw/domain';
import { gatewayPolicy, policyClient } from '../policy/policy-fixtures.js';
import { replySocketRefusal } from './udp-reply-check.js';

describe('replySocketRefusal: which reply sockets the agent makes for the forwarder', () => {
  /** The gateway's own addresses: its LAN and WAN ones. */
  const OWN = new GatewayAddresses(['192.168.2.1', '198.51.100.2']);
  const tproxy: GatewayPolicy = { ...gatewayPolicy([policyClient(10), policyClient(11, { blocked: 'proxy_down' })]), interceptMode: 'tproxy' };

  it('an effective TPROXY client and a remote unicast destination: made', () => {
    assert.equal(replySocketRefusal(tproxy, '192.168.2.10', '203.0.113.53', () => OWN), null);
  });

  it('refused without a policy, in DNAT mode, for unmapped and blocked clients', () => {
    assert.match(replySocketRefusal(null, '192.168.2.10', '203.0.113.53', () => OWN)!, /no policy/);
    assert.match(replySocketRefusal({ ...tproxy, interceptMode: 'dnat' }, '192.168.2.10', '203.0.113.53', () => OWN)!, /not in TPROXY mode/);
    assert.match(replySocketRefusal(tproxy, '192.168.2.99', '203.0.113.53', () => OWN)!, /not mapped/);
    assert.match(replySocketRefusal(tproxy, '192.168.2.11', '203.0.113.53', () => OWN)!, /blocked \(proxy_down\)/);
  });

  it('refused for an address inside a range the gateway takes as its own (a local route: AnyIP)', () => {
    // gatewayAddresses() lists such a range as a prefix; a lookup by the address missed it.
    const withRange = new GatewayAddresses(['192.168.2.1', '198.51.100.2', '10.9.0.0/16']);
    assert.match(replySocketRefusal(tproxy, '192.168.2.10', '10.9.0.5', () => withRange)!, /address of this gateway/);
    assert.equal(replySocketRefusal(tproxy, '192.168.2.10', '10.10.0.5', () => withRange), null);
  });

  it('refused for destinations no proxy reaches for the client: the LAN, loopback, 0/8, multicast, broadcast, link-local, the gateway\'s own', () => {
    for (const destination of ['192.168.2.1', '192.168.2.77', '127.0.0.1', '0.1.2.3', '224.0.0.251', '255.255.255.255', '169.254.169.254', '198.51.100.2']) {
      assert.notEqual(replySocketRefusal(tproxy, '192.168.2.10', destination, () => OWN), null, destination);
    }
  });
});
