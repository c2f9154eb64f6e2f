// The addon calls JavaScript from libuv callbacks (a relay's end, a dial's answer, a watch). When a
// worker thread that holds such objects is terminated, Node closes their handles while JavaScript
// can no longer run: a callback must then be dropped, the handles closed and the descriptors with
// them, not abort the whole process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const fixture = fileURLToPath(new URL('./fixtures/addon-worker-teardown.mjs', import.meta.url));

describe('addon objects in a terminated worker thread', () => {
  it('leave the process running, their sockets closed and no descriptor behind', () => {
    const child = spawnSync(process.execPath, [fixture], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(child.signal, null, `killed by ${child.signal}: ${child.stderr}`);
    assert.equal(child.status, 0, child.stderr);
    // Before the fixes: SIGABRT, from a callback that could not run or from the loop closed with
    // the relay's and the dial's timers still on it; then a connection the acceptor took during
    // the teardown, handed to a JavaScript that could no longer run, left open for ever.
    assert.equal(child.stdout, 'relayed through\nterminated 1\npeers closed, descriptors left 0\n');
    assert.doesNotMatch(child.stderr, /FATAL/);
  });
});
