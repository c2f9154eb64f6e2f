import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRefusals } from './refusals.js';

describe('describeRefusals', () => {
  it('sums and lists the reasons, largest first, in words', () => {
    assert.equal(
      describeRefusals({ destination_link_local: 2, destination_gateway: 3, proxy_lan: 1, destination_private: 0 }),
      '6 refused: 3 gateway, 2 link-local, 1 proxy on the LAN',
    );
    assert.equal(describeRefusals({ destination_lan: 1, proxy_loopback: 1 }), '2 refused: 1 LAN, 1 proxy on loopback');
  });
  it('says nothing when nothing was refused', () => {
    assert.equal(describeRefusals({}), null);
    assert.equal(describeRefusals(undefined), null);
    assert.equal(describeRefusals({ destination_loopback: 0 }), null);
  });
});
