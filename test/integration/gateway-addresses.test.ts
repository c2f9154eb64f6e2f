// The gateway's own addresses as the forwarder and health read them (@pgw/runtime
// gatewayAddresses), in a network namespace of this test's own: an interface that is up without a
// carrier (a veth whose peer is down, as an unplugged second WAN) keeps addresses the kernel
// delivers to, and libuv's os.networkInterfaces() leaves it out (it lists interfaces up AND
// running). Such an address must count as the gateway's, or a proxy there reaches the gateway.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const NS = `pgw-gwaddr-${process.pid}`;
const inNs = (...argv: string[]) => execFileSync('ip', ['netns', 'exec', NS, ...argv], { encoding: 'utf8', cwd: REPO });

/** What a process in the namespace reads: gatewayAddresses() and, for comparison, os.networkInterfaces(). */
function readInNamespace(): { gateway: string[]; libuv: string[] } {
  const script = `import { gatewayAddresses } from '@pgw/runtime'; import { networkInterfaces } from 'node:os';
console.log(JSON.stringify({ gateway: gatewayAddresses(), libuv: Object.values(networkInterfaces()).flat().map((e) => e.address) }));`;
  return JSON.parse(inNs('node', '--conditions=pgw-source', '--import', 'tsx', '--input-type=module', '-e', script)) as { gateway: string[]; libuv: string[] };
}

describe('gatewayAddresses in a namespace with an interface up and no carrier', { timeout: 30_000 }, () => {
  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    for (const command of ['link set lo up', 'link add v0 type veth peer name v1', 'addr add 10.77.0.1/24 dev v0', 'addr add fd77::1/64 dev v0 nodad', 'link set v0 up']) inNs('ip', ...command.split(' '));
  });
  after(() => execFileSync('ip', ['netns', 'del', NS]));

  it('lists its IPv4 and IPv6 addresses, which os.networkInterfaces() leaves out', () => {
    assert.match(inNs('ip', '-br', 'link', 'show', 'v0'), /NO-CARRIER/, 'v0 is up without a carrier');
    const { gateway, libuv } = readInNamespace();
    console.log(`# os.networkInterfaces(): ${libuv.join(' ')}; gatewayAddresses(): ${gateway.join(' ')}`);
    assert.ok(!libuv.includes('10.77.0.1'), 'libuv lists the interface after all: this test shows nothing');
    assert.ok(gateway.includes('10.77.0.1'), gateway.join(' '));
    assert.ok(gateway.includes('fd77::1'), gateway.join(' '));
    assert.ok(gateway.includes('127.0.0.1'));
  });
});
