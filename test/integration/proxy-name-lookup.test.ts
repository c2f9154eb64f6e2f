// A proxy given by name whose resolver answers slowly must not hold up the lookups of every other
// proxy name: dns.lookup runs getaddrinfo in libuv's thread pool (4 threads), shared by every dial
// of the service (the forwarder's connections, health's probes and liveness watch). Real glibc
// getaddrinfo against a real DNS server (test/support/slow-dns.py) in a namespace of the test's
// own, whose resolv.conf `ip netns exec` mounts from /etc/netns/<ns>/.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

const NS = `pgw-dns-${process.pid}`;
const ETC = `/etc/netns/${NS}`;
const SLOW = 'slow.pgw.test';
const FAST = 'fast.pgw.test';
const SLOW_MS = 3_000;
/** More dials at once than libuv has threads (UV_THREADPOOL_SIZE, 4 by default). */
const BURST = 8;
/** Nothing listens there: each dial ends refused as soon as its name resolved. */
const CLOSED_PORT = 1;

const burstFixture = fileURLToPath(new URL('./fixtures/proxy-name-burst.ts', import.meta.url));
const agentFixture = fileURLToPath(new URL('./fixtures/agent-name-runs.ts', import.meta.url));
const dnsServer = fileURLToPath(new URL('../support/slow-dns.py', import.meta.url));

interface Ended {
  outcome: string;
  ms: number;
}

describe('proxy names resolved while one name resolves slowly', () => {
  let dns: ChildProcess | undefined;
  const queries: string[] = [];

  before(async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    mkdirSync(ETC, { recursive: true });
    writeFileSync(`${ETC}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:10 attempts:1\n');
    writeFileSync(`${ETC}/hosts`, '127.0.0.1 localhost\n');
    dns = spawn('ip', ['netns', 'exec', NS, 'python3', '-u', dnsServer, `${SLOW}=127.0.0.1=${SLOW_MS}`, `${FAST}=127.0.0.1=0`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let ready: () => void;
    const started = new Promise<void>((resolve) => (ready = resolve));
    createInterface({ input: dns.stdout! }).on('line', (line) => (line === 'ready' ? ready() : queries.push(line)));
    await Promise.race([started, once(dns, 'exit').then(() => assert.fail('the test DNS server exited'))]);
  });

  after(() => {
    dns?.kill();
    spawnSync('ip', ['netns', 'del', NS]);
    rmSync(ETC, { recursive: true, force: true });
    try {
      rmdirSync('/etc/netns'); // only if this test left it empty
    } catch {
      // not empty, or gone: someone else's
    }
  });

  /** A fixture's output, run inside the namespace (not spawnSync: the DNS server's log is read meanwhile). */
  async function inNamespace(fixture: string, ...args: string[]): Promise<string> {
    const child = spawn('ip', ['netns', 'exec', NS, process.execPath, '--conditions=pgw-source', '--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const [status] = (await once(child, 'exit')) as [number | null];
    assert.equal(status, 0, stderr);
    return stdout;
  }

  it('a burst of dials to the slow name does not delay another name, and asks its resolver once', async () => {
    queries.length = 0;
    const { fast, slow } = JSON.parse(await inNamespace(burstFixture, SLOW, FAST, String(CLOSED_PORT), String(BURST))) as { fast: Ended; slow: Ended[] };
    console.log(`fast name's dial ended at ${fast.ms} ms (${fast.outcome}); slow name's dials at ${slow.map((s) => s.ms).join(', ')} ms; queries: ${queries.join(', ')}`);
    // The slow name is slow (the test's premise), and every dial of the burst got its answer.
    for (const s of slow) {
      assert.equal(s.outcome, 'connect_refused');
      assert.ok(s.ms >= SLOW_MS - 100, `a dial to ${SLOW} ended at ${s.ms} ms, before its resolver answered`);
    }
    assert.equal(fast.outcome, 'connect_refused');
    assert.ok(fast.ms < SLOW_MS / 2, `the dial to ${FAST} waited ${fast.ms} ms behind ${SLOW}'s lookups`);
    assert.equal(queries.filter((q) => q === `${SLOW} 1`).length, 1, `${SLOW} asked for more than once at a time: ${queries.join(', ')}`);
  });

  it("the agent's policy runs wait for a slow name only until it was first answered, and ask for it once at a time", async () => {
    queries.length = 0;
    const runs = JSON.parse(await inNamespace(agentFixture, SLOW, FAST, String(SLOW_MS))) as { ms: number; slow: string[]; fast: string[] }[];
    console.log(`agent runs: ${runs.map((r) => `${r.ms} ms, ${SLOW} [${r.slow.join(' ')}]`).join('; ')}; queries: ${queries.join(', ')}`);
    assert.equal(runs.length, 3);
    for (const r of runs) assert.deepEqual(r.fast, ['127.0.0.1']);
    // The first run waits for the new name until its deadline (2 s) and goes on without it.
    assert.deepEqual(runs[0]!.slow, []);
    // The next run does not wait again behind the lookup still in flight, nor start another.
    assert.ok(runs[1]!.ms < 500, `the second run waited ${runs[1]!.ms} ms for ${SLOW}`);
    // Once answered, the answer is in the next run at once.
    assert.deepEqual(runs[2]!.slow, ['127.0.0.1']);
    assert.ok(runs[2]!.ms < 500, `the third run waited ${runs[2]!.ms} ms for ${SLOW}`);
    assert.ok(queries.filter((q) => q === `${SLOW} 1`).length <= 2, `${SLOW} asked for again while in flight: ${queries.join(', ')}`);
  });
});
