// getOriginalDst against a real kernel: nft redirects inside a namespace this test creates.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getOriginalDst } from '@pgw/original-dst';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const IPV4_PORT = 18080; // listener bound to 127.0.0.1 (AF_INET socket)
const DUAL_PORT = 18081; // listener bound to [::] (AF_INET6 socket, IPv4 clients arrive v4-mapped)

const RULESET = `
table inet pgw_od_test {
  chain output {
    type nat hook output priority -100; policy accept;
    ip daddr 203.0.113.5 tcp dport 80 redirect to :${IPV4_PORT}
    ip daddr 203.0.113.6 tcp dport 80 redirect to :${DUAL_PORT}
    ip6 daddr 2001:db8::5 tcp dport 80 redirect to :${DUAL_PORT}
  }
}
`;

// Runs inside the namespace: listens, and on request connects from inside the namespace. The
// accepting side calls getOriginalDst and sends its outcome to the client, which reports it.
const SERVER = `
import net from 'node:net';
import { createInterface } from 'node:readline';
import { getOriginalDst } from '@pgw/original-dst';

function accept(socket) {
  let outcome;
  try { outcome = { result: getOriginalDst(socket) }; } catch (error) { outcome = { error: error.message }; }
  socket.end(JSON.stringify(outcome));
}
let listening = 0;
for (const [host, port] of [['127.0.0.1', ${IPV4_PORT}], ['::', ${DUAL_PORT}]]) {
  net.createServer(accept).listen({ host, port, ipv6Only: false }, () => {
    if (++listening === 2) process.stdout.write(JSON.stringify({ ready: true }) + '\\n');
  });
}
createInterface({ input: process.stdin }).on('line', (line) => {
  const { id, host, port } = JSON.parse(line);
  const report = (outcome) => process.stdout.write(JSON.stringify({ id, ...outcome }) + '\\n');
  const chunks = [];
  const client = net.connect({ host, port, timeout: 3000 });
  client.on('data', (chunk) => chunks.push(chunk));
  client.on('end', () => report(JSON.parse(Buffer.concat(chunks).toString())));
  client.on('timeout', () => { client.destroy(); report({ clientError: 'timeout' }); });
  client.on('error', (error) => report({ clientError: error.message }));
});
process.stdin.on('end', () => process.exit(0));
`;

interface Outcome {
  result?: { address: string; port: number; family: number };
  error?: string;
  clientError?: string;
}

function sh(...args: string[]): void {
  execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}

/** A namespace with loopback and a veth pair as "WAN" link, so 203.0.113.0/24 and 2001:db8::/64 route. */
function createNamespace(name: string, ruleset?: string): void {
  sh('ip', 'netns', 'add', name);
  sh('ip', '-n', name, 'link', 'set', 'lo', 'up');
  sh('ip', '-n', name, 'link', 'add', 'wan0', 'type', 'veth', 'peer', 'name', 'wan1');
  sh('ip', '-n', name, 'link', 'set', 'wan0', 'up');
  sh('ip', '-n', name, 'link', 'set', 'wan1', 'up');
  sh('ip', '-n', name, 'addr', 'add', '203.0.113.1/24', 'dev', 'wan0');
  sh('ip', '-n', name, 'addr', 'add', '2001:db8::1/64', 'dev', 'wan0', 'nodad');
  if (ruleset !== undefined) {
    execFileSync('ip', ['netns', 'exec', name, 'nft', '-f', '-'], { input: ruleset, timeout: 10_000 });
  }
}

function deleteNamespace(name: string): void {
  try {
    sh('ip', 'netns', 'del', name);
  } catch {
    // Already gone (creation failed half-way): nothing left to clean.
  }
}

class NamespaceServer {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting = new Map<number, (outcome: Outcome) => void>();
  private nextId = 1;
  private stderr = '';
  readonly ready: Promise<void>;

  constructor(ns: string) {
    this.child = spawn(
      'ip',
      ['netns', 'exec', ns, process.execPath, '--conditions=pgw-source', '--import', 'tsx', '--input-type=module', '-e', SERVER],
      { cwd: REPO, stdio: 'pipe' },
    );
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    let markReady!: () => void;
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`namespace server not ready in 15 s: ${this.stderr}`)), 15_000);
      markReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`namespace server exited ${code}: ${this.stderr}`));
      });
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as Outcome & { id?: number; ready?: boolean };
      if (message.ready) markReady();
      else if (message.id !== undefined) this.waiting.get(message.id)?.(message);
    });
  }

  /** Connects from inside the namespace to host:port; resolves with what the accepting side saw. */
  probe(host: string, port: number): Promise<Outcome> {
    const id = this.nextId++;
    return new Promise<Outcome>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer for ${host}:${port} in 5 s: ${this.stderr}`)), 5_000);
      this.waiting.set(id, (outcome) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(outcome);
      });
      this.child.stdin.write(JSON.stringify({ id, host, port }) + '\n');
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(kill);
  }
}

describe('getOriginalDst (real nft redirect in a private namespace)', { timeout: 60_000 }, () => {
  const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const natNs = `pgw-od-nat-${suffix}`;
  const bareNs = `pgw-od-bare-${suffix}`;
  let nat: NamespaceServer | undefined;
  let bare: NamespaceServer | undefined;

  before(async () => {
    createNamespace(natNs, RULESET);
    createNamespace(bareNs);
    nat = new NamespaceServer(natNs);
    bare = new NamespaceServer(bareNs);
    await Promise.all([nat.ready, bare.ready]);
  });

  after(async () => {
    await Promise.all([nat?.stop(), bare?.stop()]);
    deleteNamespace(natNs);
    deleteNamespace(bareNs);
  });

  it('returns the pre-redirect IPv4 destination on an AF_INET socket', async () => {
    const outcome = await nat!.probe('203.0.113.5', 80);
    assert.deepEqual(outcome.result, { address: '203.0.113.5', port: 80, family: 4 }, JSON.stringify(outcome));
  });

  it('returns the IPv4 destination for a v4-mapped client on a dual-stack listener', async () => {
    const outcome = await nat!.probe('203.0.113.6', 80);
    assert.deepEqual(outcome.result, { address: '203.0.113.6', port: 80, family: 4 }, JSON.stringify(outcome));
  });

  it('returns the pre-redirect IPv6 destination via IP6T_SO_ORIGINAL_DST', async () => {
    const outcome = await nat!.probe('2001:db8::5', 80);
    assert.deepEqual(outcome.result, { address: '2001:db8::5', port: 80, family: 6 }, JSON.stringify(outcome));
  });

  it('a tracked but not redirected connection reports its own local address', async () => {
    const outcome = await nat!.probe('127.0.0.1', IPV4_PORT);
    assert.deepEqual(outcome.result, { address: '127.0.0.1', port: IPV4_PORT, family: 4 }, JSON.stringify(outcome));
  });

  it('a connection conntrack never saw throws an error naming ENOENT', async () => {
    const outcome = await bare!.probe('127.0.0.1', IPV4_PORT);
    assert.equal(outcome.result, undefined);
    assert.match(outcome.error ?? '', /SO_ORIGINAL_DST\) failed: .*errno 2\).*no conntrack entry/);
  });

  it('throws a clear error for a socket without a file descriptor', () => {
    assert.throws(() => getOriginalDst(new net.Socket()), /socket has no file descriptor/);
  });
});
