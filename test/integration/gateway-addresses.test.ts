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

describe('gatewayAddresses in a namespace with an interface up and no carrier, and local ranges', { timeout: 30_000 }, () => {
  before(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    for (const command of ['link set lo up', 'link add v0 type veth peer name v1', 'addr add 10.77.0.1/24 dev v0', 'addr add fd77::1/64 dev v0 nodad', 'link set v0 up']) inNs('ip', ...command.split(' '));
    // Ranges the kernel delivers locally as a whole (AnyIP): a local route, and an address with a prefix on lo.
    for (const command of ['route add local 10.78.0.0/16 dev lo', 'addr add 10.79.0.1/24 dev lo']) inNs('ip', ...command.split(' '));
    // And TPROXY's policy table: a local default route for marked packets only, not an address of the host.
    for (const command of ['route add local 0.0.0.0/0 dev lo table 100', 'rule add fwmark 1 lookup 100']) inNs('ip', ...command.split(' '));
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

  it("keeps the last addresses where a read fails for want of descriptors: the forwarder's guard neither forgets them nor dies", () => {
    // A process limited to 1024 descriptors starts the forwarder's DestinationGuard and its 20 ms
    // watch, then opens files until EMFILE: getifaddrs (a netlink socket) and /proc reads fail
    // from then on. Judged only after the exhaustion, so no answer kept from before can stand in.
    // Not fewer: Node's module loader opens the import graph's files side by side (zod's locales
    // alone are ~50), and with 64 it ran out while loading under CI's load (EMFILE on a locale).
    const script = `import { openSync, closeSync } from 'node:fs';
import { DestinationGuard } from './services/forwarder/src/routes/destination-guard.ts';
const guard = new DestinationGuard([]);
guard.configure({ lanCidr: '192.168.2.0/24', privateDestinations: 'allow' });
const errors = [];
guard.onAddressReadError = (error) => errors.push(error.message);
const stop = guard.watch(20);
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch {}
await new Promise((resolve) => setTimeout(resolve, 300));
const during = ['10.77.0.1', '10.78.3.4', 'fd77::1'].map((address) => guard.refusal(address, null));
for (const fd of held) closeSync(fd);
stop();
console.log(JSON.stringify({ held: held.length, during, errors: errors.length }));`;
    const out = execFileSync('ip', ['netns', 'exec', NS, 'bash', '-c', 'ulimit -n 1024 && exec node --conditions=pgw-source --import tsx --input-type=module -e "$0"', script], { encoding: 'utf8', cwd: REPO, timeout: 20_000 });
    const result = JSON.parse(out) as { held: number; during: (string | null)[]; errors: number };
    console.log(`# ${out.trim()}`);
    assert.ok(result.held > 0, 'the descriptors were exhausted');
    assert.deepEqual(result.during, ['destination_gateway', 'destination_gateway', 'destination_gateway']);
    // ~15 ticks failed; told once per spell of failures (a descriptor Node frees meanwhile may let one read through and start a new spell).
    assert.ok(result.errors >= 1 && result.errors <= 3, `the failed reads are told once, not at every tick: told ${result.errors} times`);
  });

  it('lists the IPv4 ranges the kernel delivers locally as a whole, as networks; not a policy table\'s local route', () => {
    // The kernel's own answer first: an address inside each range is local to this namespace, one elsewhere is not.
    for (const address of ['10.78.200.7', '10.79.0.99']) assert.match(inNs('ip', 'route', 'get', address), /^local /, address);
    const { gateway } = readInNamespace();
    for (const range of ['10.78.0.0/16', '10.79.0.0/24']) assert.ok(gateway.includes(range), `${range} missing from ${gateway.join(' ')}`);
    assert.ok(!gateway.includes('0.0.0.0/0'), `TPROXY's table made every address the gateway's: ${gateway.join(' ')}`);
  });
});
