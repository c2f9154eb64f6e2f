import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { takeListenFds } from './socket-activation.js';

describe('takeListenFds', () => {
  it('gives the descriptors systemd passed to this process (from 3) and clears the variables for children', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'api:metrics', PATH: '/bin' };
    assert.deepEqual(takeListenFds(env, 4242), [3, 4]);
    assert.deepEqual(env, { PATH: '/bin' });
  });

  it('none when nothing was passed, or passed to another process (a parent that left its environment)', () => {
    assert.deepEqual(takeListenFds({}, 4242), []);
    const env: NodeJS.ProcessEnv = { LISTEN_PID: '17', LISTEN_FDS: '1' };
    assert.deepEqual(takeListenFds(env, 4242), []);
    assert.deepEqual(env, {}, 'cleared all the same: not ours to act on, nor our children’s');
  });

  it('refuses variables that do not say how many sockets, naming them', () => {
    for (const [pid, fds] of [['4242', 'two'], ['4242', '-1'], ['4242', '1.5'], ['4242', ''], ['4242', '100000'], ['x', '1']] as const) {
      assert.throws(() => takeListenFds({ LISTEN_PID: pid, LISTEN_FDS: fds }, 4242), /LISTEN_(PID|FDS)/, `${pid}/${fds}`);
    }
    assert.throws(() => takeListenFds({ LISTEN_FDS: '1' }, 4242), /LISTEN_FDS without LISTEN_PID/);
  });
});
