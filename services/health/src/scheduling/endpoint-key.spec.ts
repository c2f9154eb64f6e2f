import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointKey } from './endpoint-key.js';

const proxy = { protocol: 'socks5', host: '203.0.113.10', port: 1080, username: 'user', passwordEnc: 'v1:sealed-password', handshakeMode: 'auto' } as const;

describe('endpointKey', () => {
  it('is the same for the same endpoint, 16 hex digits that hold no field', () => {
    const key = endpointKey(proxy);
    assert.equal(key, endpointKey({ ...proxy }));
    assert.match(key, /^[0-9a-f]{16}$/);
    for (const field of ['203.0.113.10', 'user', 'sealed-password']) assert.ok(!key.includes(field));
  });

  it('changes with every field that decides what a probe dials', () => {
    const edits = [
      { protocol: 'http' as const },
      { host: '203.0.113.11' },
      { port: 1081 },
      { username: 'other' },
      { username: null, passwordEnc: null },
      { passwordEnc: 'v1:resealed' },
      { handshakeMode: 'early-data' as const },
      // Text that would join the same without the lengths: "user" + "v1:..." moved across the boundary.
      { username: 'userv', passwordEnc: '1:sealed-password' },
    ];
    const keys = new Set([endpointKey(proxy), ...edits.map((edit) => endpointKey({ ...proxy, ...edit }))]);
    assert.equal(keys.size, edits.length + 1);
  });
});
