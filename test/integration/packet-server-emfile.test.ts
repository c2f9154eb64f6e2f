// The agent's listener socket (a PacketServer) when its accept fails for want of a descriptor
// (EMFILE): the peer stays queued and the level-triggered watch fired again at once, every turn of
// the loop, each failure reported (the agent logs a warning each time): 36,000 calls in 200 ms seen.
// It pauses and watches again now, as the forwarder's TCP acceptor does. In a child process with a
// descriptor limit of its own (ulimit -n).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const FIXTURE = fileURLToPath(new URL('./fixtures/packet-server-emfile.ts', import.meta.url));

describe('PacketServer out of descriptors', () => {
  it('pauses instead of spinning, and accepts the queued peer once descriptors are free', () => {
    const run = spawnSync('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" --conditions=pgw-source --import tsx "${FIXTURE}"`], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 0, run.stderr);
    const { errors, accepted } = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { errors: number; accepted: number };
    console.log(`# accept failures reported in the 300 ms after the first: ${errors}; accepted after: ${accepted}`);
    assert.ok(errors >= 0 && errors <= 10, `accept failures reported in the 300 ms after the first: ${errors} (-1: no failure within 2 s)`);
    assert.equal(accepted, 1, 'the queued peer is accepted once descriptors are free');
  });
});
