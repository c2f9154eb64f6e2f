import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { refuseSystemContainerd, SYSTEM_CONTAINERD_SOCKET } from './docker-daemon.js';

test('a containerd socket at dockerd\'s default address refuses the private engine, naming it and the way out', () => {
  assert.equal(SYSTEM_CONTAINERD_SOCKET, '/run/containerd/containerd.sock', 'the address moby checks');
  const dir = mkdtempSync(join(tmpdir(), 'pgw-containerd-'));
  try {
    const socket = join(dir, 'containerd.sock');
    assert.doesNotThrow(() => refuseSystemContainerd(socket), 'none there');
    writeFileSync(socket, '');
    assert.throws(() => refuseSystemContainerd(socket), new RegExp(`a containerd listens on ${socket.replace(/[.]/g, '\\.')} .*machine's own network namespace.*systemctl stop docker\\.socket docker containerd`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
