// The native addon is loaded by the agent, which runs as root with CAP_NET_ADMIN and parses what
// the forwarder sends it: built hardened as Debian builds its own packages (binding.gyp). The
// built module's ELF says so: its relocations bound at load (BIND_NOW, full RELRO), the stack
// protector's and the fortified libc calls' checks imported, no executable stack.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const built = fileURLToPath(new URL('../../packages/original-dst/build/Release/original_dst.node', import.meta.url));

describe('the native addon as built', () => {
  it('is hardened: full RELRO, stack protector, fortified calls, no executable stack', () => {
    const dynamic = execFileSync('readelf', ['-d', '-W', built], { encoding: 'utf8' });
    assert.match(dynamic, /\(FLAGS\)\s+BIND_NOW/, 'relocations bound at load (-z now)');
    const segments = execFileSync('readelf', ['-l', '-W', built], { encoding: 'utf8' });
    assert.match(segments, /GNU_RELRO/, 'read-only relocations (-z relro)');
    assert.match(segments, /GNU_STACK\s+(\S+\s+){5}RW\s/, 'a stack that is not executable');
    const imported = execFileSync('nm', ['-D', '--undefined-only', built], { encoding: 'utf8' });
    assert.match(imported, /__stack_chk_fail/, 'the stack protector (-fstack-protector-strong)');
    assert.match(imported, /__\w+_chk\b/, 'fortified libc calls (_FORTIFY_SOURCE)');
  });
});
