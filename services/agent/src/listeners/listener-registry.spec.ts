import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GatewayPolicy, Ipv4, Port } from '@pgw/domain';
import type { SocketDescription } from '@pgw/original-dst';
import { AWAIT_HANDBACK_MS, type ListenerSyscalls, ListenerRegistry } from './listener-registry.js';

/** A kernel stand-in: which ports are taken and by which uid, which descriptors are open. */
class FakeKernel implements ListenerSyscalls {
  readonly taken = new Map<number, number>();
  readonly open = new Map<number, SocketDescription>();
  private nextFd = 100;

  listen(port: number): number {
    if (this.taken.has(port)) throw Object.assign(new Error(`bind 127.0.0.1:${port}: Address already in use`), { code: 'EADDRINUSE' });
    this.taken.set(port, 0);
    return this.add({ port });
  }

  add(overrides: Partial<SocketDescription>): number {
    const fd = this.nextFd++;
    this.open.set(fd, { isSocket: true, inode: fd, ownerUid: 0, tcp: true, listening: true, reusePort: false, family: 4, address: '127.0.0.1', port: 0, ...overrides });
    return fd;
  }

  describe(fd: number): SocketDescription {
    const d = this.open.get(fd);
    if (!d) throw new Error('EBADF');
    return d;
  }

  makeTransparent(fd: number): void {
    this.open.set(fd, { ...this.describe(fd), transparent: true });
  }

  close(fd: number): void {
    assert.ok(this.open.delete(fd), `close of a descriptor that is not open: ${fd}`);
  }

  uidsBoundToPort(port: number): number[] {
    const uid = this.taken.get(port);
    return uid === undefined ? [] : [uid];
  }
}

const FORWARDER_UID = 999;

function policy(...ports: number[]): GatewayPolicy {
  return {
    lan: { interface: 'ens19', cidr: '192.168.2.0/24' },
    wan: { interface: 'eth0' },
    dnsMode: 'minimal',
    clients: ports.map((port, i) => ({ mappingId: i + 1, proxyId: 1, ip: `192.168.2.${10 + i}` as Ipv4, port: port as Port, blocked: null })),
    strictOutput: null,
  } as unknown as GatewayPolicy;
}

function setup(): { kernel: FakeKernel; registry: ListenerRegistry } {
  const kernel = new FakeKernel();
  return { kernel, registry: new ListenerRegistry(kernel, new Set([0, FORWARDER_UID])) };
}

describe('ListenerRegistry', () => {
  it('binds every client port before the policy is applied and returns the very same policy', () => {
    const { kernel, registry } = setup();
    const p = policy(20000, 20001);
    const held = registry.hold(p);
    assert.equal(held.policy, p);
    assert.deepEqual(held.refused, []);
    assert.deepEqual(registry.heldPorts(), [20000, 20001]);
    assert.equal(kernel.open.size, 2);
  });

  it('blocks (never DNATs) a client whose port another uid holds, with the reason, until it is free', () => {
    const { kernel, registry } = setup();
    kernel.taken.set(20001, 65534);
    const p = policy(20000, 20001);
    const held = registry.hold(p);
    assert.deepEqual(held.policy.clients.map((c) => [c.port, c.blocked]), [[20000, null], [20001, 'port_refused']]);
    assert.deepEqual(held.refused, [{ mappingId: 2, port: 20001, reason: 'blocked: port 20001 held by another socket (uid 65534)' }]);
    assert.equal(registry.hold(p), held, 'same input and same refusals: the same result, so the reconciler sees no change');
    assert.deepEqual(registry.grant(20001), { reason: "port 20001 is not in the agent's desired state" });
    kernel.taken.delete(20001);
    assert.equal(registry.hold(p).policy, p);
    assert.deepEqual(registry.heldPorts(), [20000, 20001]);
  });

  it('names a root socket that is not handed back within AWAIT_HANDBACK_MS for what it likely is: a root daemon on the port', () => {
    const kernel = new FakeKernel();
    let now = 0;
    const registry = new ListenerRegistry(kernel, new Set([0, FORWARDER_UID]), () => now);
    kernel.taken.set(20000, 0);
    const p = policy(20000);
    const awaits = "port 20000 awaits the forwarder's handback of its socket";
    assert.equal(registry.hold(p).refused[0]!.reason, awaits);
    now = AWAIT_HANDBACK_MS - 1;
    assert.equal(registry.hold(p).refused[0]!.reason, awaits);
    now = AWAIT_HANDBACK_MS;
    const daemon = registry.hold(p).refused[0]!.reason;
    assert.match(daemon, /^port 20000 is held by a root socket the forwarder has not handed back in 10 s: a root daemon listening on it\? .*PGW_RESERVED_PORTS/);
    assert.deepEqual(registry.awaitingHandback(), [20000], 'still asked for');
    // The daemon stops: bound on the next run; a later wait starts again from its own beginning.
    kernel.taken.delete(20000);
    assert.equal(registry.hold(p).policy, p);
    // The mapping goes (its socket closed), the daemon is back (the fake kernel keeps the port taken), the mapping too.
    registry.hold(policy());
    assert.deepEqual(registry.release(policy()), [20000]);
    now += 60_000;
    assert.equal(registry.hold(p).refused[0]!.reason, awaits);
  });

  it('blocks a port a root-created socket holds (a previous agent) until the forwarder hands it back, then adopts it', () => {
    const { kernel, registry } = setup();
    kernel.taken.set(20000, 0);
    const p = policy(20000);
    const held = registry.hold(p);
    assert.deepEqual(held.refused, [{ mappingId: 1, port: 20000, reason: "port 20000 awaits the forwarder's handback of its socket" }]);
    assert.equal(held.policy.clients[0]!.blocked, 'port_refused', 'no DNAT to a socket the agent does not hold');
    assert.deepEqual(registry.grant(20000), { reason: "port 20000 is not in the agent's desired state" });
    assert.deepEqual(registry.awaitingHandback(), [20000], 'the forwarder is asked for it');
    const handedBack = kernel.add({ port: 20000 });
    assert.equal(registry.adopt(20000, handedBack), null);
    assert.deepEqual(registry.awaitingHandback(), []);
    assert.equal(kernel.describe(handedBack).transparent, true, 'made transparent for TPROXY mode (issue 15)');
    assert.equal(registry.hold(p).policy, p, 'held again: the client is effective on the next run');
    assert.deepEqual(registry.grant(20000), { fd: handedBack });
    const again = kernel.add({ port: 20000 });
    assert.equal(registry.adopt(20000, again), null, 'a second handback of a held port is the same socket');
    assert.ok(!kernel.open.has(again), 'and its duplicate descriptor is closed');
  });

  it('saves no refusal of its own: the next agent adopts the handed-back socket and keeps it after its first apply', () => {
    // An agent that stops before the forwarder's handback reached it: the policy in force blocks
    // the client whose port the forwarder holds (port_refused), a check's refusal stays.
    const first = setup();
    first.kernel.taken.set(20000, 0);
    const desired = policy(20000, 20001, 20002);
    const input = { ...desired, clients: desired.clients.map((c) => (c.port === 20001 ? { ...c, blocked: 'proxy_down' as const } : c.port === 20002 ? { ...c, blocked: 'port_refused' as const } : c)) };
    first.kernel.taken.set(20001, 0);
    const inForce = first.registry.hold(input).policy;
    assert.deepEqual(inForce.clients.map((c) => c.blocked), ['port_refused', 'port_refused', 'port_refused']);
    // Saved after its run, when a later run may have held anew without a refusal (the handback
    // came meanwhile): the state file is written late.
    for (const port of [20000, 20001]) assert.equal(first.registry.adopt(port, first.kernel.add({ port })), null);
    assert.deepEqual(first.registry.hold(input).refused, []);
    const saved = first.registry.withoutOwnRefusals(inForce);
    assert.deepEqual(saved.clients.map((c) => c.blocked), [null, 'proxy_down', 'port_refused'], 'as the input had them: only the check refusal is saved');

    // The next agent boots from the saved state while the forwarder still holds the ports.
    const next = new ListenerRegistry(first.kernel, new Set([0, FORWARDER_UID]));
    const booted = next.hold(saved);
    const handedBack = first.kernel.add({ port: 20000 });
    assert.equal(next.adopt(20000, handedBack), null);
    assert.deepEqual(next.release(booted.policy), [], 'the handed-back socket is kept: a DNAT rule will point at it');
    assert.deepEqual(next.heldPorts(), [20000]);
    assert.equal(next.hold(saved).policy.clients[0]!.blocked, null, 'its client is effective on the next run');
  });

  it('refuses and closes a handed-back descriptor that is not a plain listening TCP socket on 127.0.0.1:port', () => {
    const cases: [Partial<SocketDescription>, RegExp][] = [
      [{ address: '0.0.0.0' }, /bound to 0.0.0.0:20000, not 127.0.0.1:20000/],
      [{ port: 20001 }, /not 127.0.0.1:20000/],
      [{ listening: false }, /not listening/],
      [{ reusePort: true }, /SO_REUSEPORT/],
      [{ tcp: false }, /not a TCP socket/],
      [{ isSocket: false }, /not a socket/],
      [{ family: 6, address: '::1' }, /not 127.0.0.1/],
    ];
    for (const [overrides, reason] of cases) {
      const { kernel, registry } = setup();
      kernel.taken.set(20000, FORWARDER_UID);
      registry.hold(policy(20000));
      const fd = kernel.add({ port: 20000, ...overrides });
      assert.match(registry.adopt(20000, fd) ?? '', reason);
      assert.ok(!kernel.open.has(fd), `closed: ${reason}`);
      assert.deepEqual(registry.heldPorts(), []);
    }
  });

  it('adopts the handed-back socket of a port the agent checks refused because that very socket held it', () => {
    const { kernel, registry } = setup();
    const p = policy(20000);
    registry.hold({ ...p, clients: p.clients.map((c) => ({ ...c, blocked: 'port_refused' as const })) });
    const fd = kernel.add({ port: 20000 });
    assert.equal(registry.adopt(20000, fd), null);
    assert.deepEqual(registry.heldPorts(), [20000]);
  });

  it('adopts nothing for a port outside its desired state', () => {
    const { kernel, registry } = setup();
    registry.hold(policy(20000));
    const fd = kernel.add({ port: 20005 });
    assert.equal(registry.adopt(20005, fd), "port 20005 is not in the agent's desired state");
    assert.ok(!kernel.open.has(fd));
  });

  it('before its first desired state keeps what the forwarder hands back, then adopts it for a first policy with its port', () => {
    const { kernel, registry } = setup();
    // The forwarder kept the previous agent's sockets; this agent has no state file and Postgres is away.
    kernel.taken.set(20000, 0);
    kernel.taken.set(20005, 0);
    const [kept, unmapped] = [kernel.add({ port: 20000 }), kernel.add({ port: 20005 })];
    assert.equal(registry.adopt(20000, kept), null);
    assert.equal(registry.adopt(20005, unmapped), null);
    assert.deepEqual(registry.release(null), [], 'a failed first run closes nothing');
    const p = policy(20000);
    assert.equal(registry.hold(p).policy, p, 'the client is effective on the first run (failed before: awaiting a handback that had been refused)');
    assert.deepEqual(registry.grant(20000), { fd: kept });
    assert.deepEqual(registry.release(p), [20005], 'what the first policy does not use is closed after its apply');
    assert.ok(!kernel.open.has(unmapped));
  });

  it('closes a socket only after the policy in force no longer uses its port', () => {
    const { kernel, registry } = setup();
    const before = policy(20000, 20001);
    registry.hold(before);
    const after = policy(20000);
    registry.hold(after);
    assert.deepEqual(registry.release(before), [], 'the rule for 20001 is still in force: its socket stays');
    assert.deepEqual(registry.release(after), [20001]);
    assert.equal(kernel.open.size, 1);
  });

  it('closes the socket of a port the checks came to refuse (reserved since, or bound from the state file at boot)', () => {
    const { kernel, registry } = setup();
    const effective = policy(20001);
    registry.hold(effective);
    registry.release(effective);
    assert.equal(kernel.open.size, 1);
    // PGW_RESERVED_PORTS now names 20001 (the operator's own service wants it): the client is
    // blocked, and the port must be free for that service, not held by the agent for nobody.
    const refused = { ...effective, clients: effective.clients.map((c) => ({ ...c, blocked: 'port_refused' as const })) };
    registry.hold(refused);
    assert.deepEqual(registry.release(refused), [20001]);
    assert.equal(kernel.open.size, 0);
    assert.deepEqual(registry.grant(20001), { reason: "port 20001 is not in the agent's desired state" });
  });

  it('keeps a handed-back socket of a port whose own bind failed (not refused by the checks) through the release after the apply', () => {
    const { kernel, registry } = setup();
    // The forwarder still holds 20002 (a restarted agent): the bind fails, the client waits, blocked.
    kernel.taken.set(20002, 0);
    const p = policy(20002);
    const held = registry.hold(p).policy;
    assert.equal(held.clients[0]!.blocked, 'port_refused');
    assert.equal(registry.adopt(20002, kernel.add({ port: 20002 })), null);
    assert.deepEqual(registry.release(held), [], 'the handed-back socket was closed before the next hold could use it');
    assert.equal(registry.hold(p).policy, p, 'served again');
  });

  it('never binds a port that the agent port checks refused (it may be a pgw service port)', () => {
    const { kernel, registry } = setup();
    const p = policy(9103);
    const refusedByChecks = { ...p, clients: p.clients.map((c) => ({ ...c, blocked: 'port_refused' as const })) };
    assert.equal(registry.hold(refusedByChecks).policy, refusedByChecks);
    assert.equal(kernel.open.size, 0);
    assert.deepEqual(registry.grant(9103), { reason: "port 9103 is not in the agent's desired state" });
  });

  it('holdBuild adds its refusals to the port refusals and returns the same build while nothing changes', () => {
    const { kernel, registry } = setup();
    kernel.taken.set(20001, 1000);
    const earlier = { subject: 'mapping 9 (192.168.2.99)', reason: 'port refused (9103 is the health metrics port)' };
    const build = { policy: policy(20000, 20001), rejected: [], refusals: [earlier] };
    const held = registry.holdBuild(build);
    assert.deepEqual(held.refusals, [earlier, { subject: 'mapping 2 (192.168.2.11)', reason: 'blocked: port 20001 held by another socket (uid 1000)' }]);
    assert.equal(registry.holdBuild(build), held);
    const clean = { policy: policy(20000), rejected: [], refusals: [] };
    assert.equal(registry.holdBuild(clean), clean);
  });
});
