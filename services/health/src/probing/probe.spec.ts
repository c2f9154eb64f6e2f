import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Socket } from 'node:net';
import { DialError, type DialOptions, type Dialer } from '@pgw/dialers';
import { parsePort } from '@pgw/domain';
import { checkTargetFromUrl, probeThroughProxy } from './probe.js';

/** A dialer whose dial never connects: it fails as the dialers do when aborted while connecting. */
const neverConnects: Dialer = {
  protocol: 'http',
  dial: (_proxy, _target, options: DialOptions) =>
    new Promise<Socket>((_resolve, reject) => {
      options.signal?.addEventListener('abort', { handleEvent: () => reject(new DialError('aborted', 'connect: dial aborted by the caller', { step: 'connect' })) });
    }),
  open: () => Promise.reject(new Error('not used')),
  connectOn: () => Promise.reject(new Error('not used')),
};

describe('probeThroughProxy', () => {
  it('a probe out of time before any TCP connection: the proxy named unreachable, with the probe\'s timeout', async () => {
    const proxy = { protocol: 'http' as const, host: '198.51.100.11', port: parsePort(3128) };
    const outcome = await probeThroughProxy(neverConnects, proxy, checkTargetFromUrl('http://203.0.113.10/ip'), { timeoutMs: 50, trustedCa: [], checkProxyAddress: () => null });
    assert.deepEqual(outcome, { ok: false, result: 'timeout', reachedProxy: false, error: 'http://198.51.100.11:3128: no TCP connection to the proxy within 50 ms' });
  });
});
