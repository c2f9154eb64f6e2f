// A JavaScript callback that the addon calls from libuv (a watch, a relay's end, a dial's outcome,
// an accepted connection) and that throws: Node's rule for I/O callbacks holds, the error reaches
// 'uncaughtException' (by default the service exits with its stack, and systemd restarts it). It
// was swallowed before: a bug in the forwarder's accept path would have left descriptors open and
// clients hanging with nothing in the log.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const fixture = fileURLToPath(new URL('./fixtures/addon-callback-throws.ts', import.meta.url));

describe('a throw in a callback the addon calls', () => {
  for (const which of ['watch', 'relay', 'dial', 'accept']) {
    it(`reaches uncaughtException (${which})`, () => {
      const child = spawnSync(process.execPath, ['--conditions=pgw-source', '--import', 'tsx', fixture, which], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(child.signal, null, `killed by ${child.signal}: ${child.stderr}`);
      assert.equal(child.stdout, `uncaught: thrown by the ${which} callback\n`, child.stderr);
      assert.equal(child.status, 0, child.stderr);
    });
  }
});
