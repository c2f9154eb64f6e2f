import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort, type PolicyClient } from '@pgw/domain';
import { type PolicyBuild, SettingsRefused } from '../policy/build-policy.js';
import { type ReconcileOutcome, Reconciler, type ReconcilerPorts } from './reconciler.js';
import { renderRuleset } from './render-ruleset.js';
import type { TableListing } from './verify-table.js';

const c = (last: number, blocked: PolicyClient['blocked'] = null): PolicyClient => ({
  mappingId: last,
  proxyId: 1,
  ip: parseIpv4(`192.168.2.${last}`),
  port: parsePort(20000 + last),
  blocked,
});
const policy = (clients: PolicyClient[]): GatewayPolicy => ({
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients,
  strictOutput: null,
});

/**
 * A stand-in kernel: holds the table as the listing the last full script produced, applies
 * deltas element by element, and fails like nft when told to. Logic test only; the real nft
 * is exercised by the e2e tests.
 */
class FakeKernel {
  table: { elements: Map<string, string[]>; chains: Map<string, number>; rules: Map<string, string> } | null = null;
  scripts: string[] = [];
  failNext = false;
  /** Every write refused (nft broken, out of memory) until set back. */
  refuseAll = false;

  apply(script: string, policyOfScript: () => GatewayPolicy): void {
    this.scripts.push(script);
    if (this.failNext || this.refuseAll) {
      this.failNext = false;
      throw new Error('Error: Could not process rule: No such file or directory');
    }
    if (script.includes('delete table inet pgw')) {
      const r = renderRuleset(policyOfScript());
      this.table = { elements: new Map(Object.entries(r.elements).map(([k, v]) => [k, [...v]])), chains: new Map(Object.entries(r.chains)), rules: new Map(Object.keys(r.chains).map((name) => [name, `rules of ${name} as applied`])) };
      return;
    }
    if (!this.table) throw new Error('Error: No such file or directory (table inet pgw)');
    // One transaction: any failing line leaves the table as it was.
    const elements = new Map([...this.table.elements].map(([name, values]) => [name, [...values]]));
    for (const line of script.trim().split('\n')) {
      const m = /^(add|create|delete) element inet pgw (\w+) \{ (.*) \}$/.exec(line)!;
      const current = elements.get(m[2]!)!;
      for (const value of m[3]!.split(', ')) {
        const key = value.split(' : ')[0]!;
        // create, like nft: EEXIST for an element (map: key) already there; the transaction is refused whole.
        if (m[1] === 'create' && current.some((e) => e === value || e.startsWith(`${key} : `))) throw new Error('Error: Could not process rule: File exists');
        if (m[1] !== 'delete') current.push(value);
        else {
          const index = current.findIndex((e) => e === value || e.startsWith(`${value} : `));
          if (index < 0) throw new Error('Error: Could not process rule: No such file or directory');
          current.splice(index, 1);
        }
      }
      current.sort();
    }
    this.table.elements = elements;
  }

  list(): TableListing | null {
    return this.table && { elements: this.table.elements, chains: this.table.chains, rules: new Map(this.table.rules) };
  }
}

function setup(initial: GatewayPolicy, fullVerifyEvery = 1) {
  const kernel = new FakeKernel();
  const outcomes: ReconcileOutcome[] = [];
  const disconnected: { ip: string; keepPort: number }[][] = [];
  let desired = initial;
  let loads = 0;
  const loadedFor: string[][] = [];
  let loadGate: Promise<void> = Promise.resolve();
  let dbDown = false;
  let refused: SettingsRefused | null = null;
  let settingsRefused: PolicyBuild['settingsRefused'] | null = null;
  let guardRefused: PolicyBuild['guardRefused'] | null = null;
  let localnetRefused: PolicyBuild['localnetRefused'] | null = null;
  let loadFailed: string | null = null;
  let listFailures = 0;
  const lan: [string, boolean][] = [];
  const reads = { full: 0, chains: 0 };
  const saved: GatewayPolicy[] = [];
  let saveGate: Promise<void> = Promise.resolve();
  let saveFails = false;
  let applyGate: Promise<void> = Promise.resolve();
  const ports: ReconcilerPorts = {
    loadDesired: async (triggers) => {
      loads++;
      loadedFor.push([...triggers].sort());
      await loadGate;
      if (dbDown) throw new Error('connect ECONNREFUSED /var/run/postgresql/.s.PGSQL.5432');
      if (refused) throw refused;
      return { policy: desired, rejected: [], refusals: [], ...(settingsRefused ? { settingsRefused } : {}), ...(guardRefused ? { guardRefused } : {}), ...(localnetRefused ? { localnetRefused } : {}), ...(loadFailed !== null ? { loadFailed } : {}) } satisfies PolicyBuild;
    },
    applyScript: async (script) => {
      await applyGate;
      kernel.apply(script, () => desired);
    },
    listTable: async () => {
      reads.full++;
      if (listFailures > 0 && listFailures--) throw new Error('nft list timed out');
      return kernel.list();
    },
    listChains: async () => (reads.chains++, [...(kernel.list()?.chains.keys() ?? [])]),
    prepareLan: async (p, localnet) => void lan.push([p.lan.interface, localnet]),
    disconnectClients: async (clients) => void disconnected.push([...clients]),
    saveState: async (p) => {
      await saveGate;
      if (saveFails) throw new Error('EROFS: read-only file system');
      saved.push(p);
    },
    report: (o) => void outcomes.push(o),
    now: () => 0,
  };
  const reconciler = new Reconciler(ports, { fullVerifyEvery });
  return {
    ports,
    kernel,
    outcomes,
    disconnected,
    reads,
    saved,
    gateSave: (g: Promise<void>) => void (saveGate = g),
    failSaves: (fail: boolean) => void (saveFails = fail),
    reconciler,
    setDesired: (p: GatewayPolicy) => void (desired = p),
    loads: () => loads,
    loadedFor,
    gate: (g: Promise<void>) => void (loadGate = g),
    setDbDown: (down: boolean) => void (dbDown = down),
    refuse: (error: SettingsRefused | null) => void (refused = error),
    failListings: (n: number) => void (listFailures = n),
    refuseSettingsOnly: (refusals: PolicyBuild['settingsRefused'] | null) => void (settingsRefused = refusals),
    guardNotCovering: (refusal: PolicyBuild['guardRefused'] | null) => void (guardRefused = refusal),
    localnetOpen: (refusal: PolicyBuild['localnetRefused'] | null) => void (localnetRefused = refusal),
    rowsUnreadable: (reason: string | null) => void (loadFailed = reason),
    lan,
    gateApply: (g: Promise<void>) => void (applyGate = g),
  };
}

/**
 * Clients 10 and 11 applied, then a setting that changes the table's shape (dnsMode proxy), which
 * this kernel refuses at every run; the shape in force (no 'udp dport 53 drop' is the refused one's
 * mark) still applies. Returns once the refused run has been reported.
 */
async function underRefusedShape() {
  const t = setup(policy([c(10), c(11)]));
  await t.reconciler.request('start');
  const original = t.kernel.apply.bind(t.kernel);
  t.kernel.apply = function (script, of) {
    if (script.includes('delete table inet pgw') && !script.includes('udp dport 53 drop')) {
      this.scripts.push(script);
      throw new Error('Error: Could not process rule: No such file or directory');
    }
    original(script, () => ({ ...of(), dnsMode: 'drop' }));
  };
  t.setDesired({ ...policy([c(10), c(11)]), dnsMode: 'proxy' });
  await t.reconciler.request('event:settings');
  return t;
}

describe('Reconciler', () => {
  it('applies in full first, then skips an unchanged state that still verifies', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    await t.reconciler.request('resync');
    assert.deepEqual(t.outcomes.map((o) => [o.mode, o.ok]), [['full', true], ['none', true]]);
    assert.equal(t.kernel.scripts.length, 1);
  });

  it('applies a one-client change as a delta; the blocked client keeps its conntrack entries (the forwarder’s reset rides them)', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    assert.equal(t.outcomes.at(-1)?.mode, 'delta');
    assert.doesNotMatch(t.kernel.scripts.at(-1)!, /delete table/);
    assert.deepEqual(t.kernel.table?.elements.get('lan_blocked'), ['192.168.2.11']);
    assert.deepEqual(t.disconnected.at(-1), []);
  });

  it('a one-change run starts one nft process: the delta itself is the check (strict create/delete), no read-back', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    assert.deepEqual(t.reads, { full: 1, chains: 0 }, 'a full apply is read back in full');
    const scripts = t.kernel.scripts.length;
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    assert.deepEqual([t.outcomes.at(-1)?.mode, t.outcomes.at(-1)?.ok], ['delta', true]);
    assert.deepEqual(t.reads, { full: 1, chains: 0 });
    assert.equal(t.kernel.scripts.length, scripts + 1);
    assert.match(t.kernel.scripts.at(-1)!, /^create element inet pgw lan_blocked \{ 192\.168\.2\.11 \}$/m);
  });

  it('a delta run that changes no MAC pin leaves the LAN settings to the resync; the next resync asserts them', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    const before = t.lan.length;
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    assert.deepEqual([t.outcomes.at(-1)?.mode, t.outcomes.at(-1)?.ok], ['delta', true]);
    assert.equal(t.lan.length, before, 'nothing of the LAN changed');
    assert.equal(t.outcomes.at(-1)?.phases.lan, undefined);
    await t.reconciler.request('resync');
    assert.deepEqual(t.lan.slice(before), [['ens19', true]]);
  });

  it('a stream of delta runs still asserts the LAN settings once the last assertion is older than lanMaxAgeMs', async () => {
    let now = 0;
    const t = setup(policy([c(10), c(11)]));
    const reconciler = new Reconciler({ ...t.ports, now: () => now }, { fullVerifyEvery: 1, lanMaxAgeMs: 1000 });
    await reconciler.request('start');
    const before = t.lan.length;
    now = 999;
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await reconciler.request('event:proxy.status');
    assert.equal(t.lan.length, before);
    now = 1000;
    t.setDesired(policy([c(10), c(11)]));
    await reconciler.request('event:proxy.status');
    assert.deepEqual(t.lan.slice(before), [['ens19', true]]);
  });

  it('a delta run that pins a MAC asserts the LAN settings while nft applies it (same table skeleton, so the same LAN interface), not after', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    const before = t.lan.length;
    let open!: () => void;
    t.gateApply(new Promise<void>((resolve) => (open = resolve)));
    t.setDesired(policy([c(10), { ...c(11, 'proxy_down'), mac: parseMacAddress('52:54:00:ab:cd:0f') }]));
    const run = t.reconciler.request('event:proxy.status');
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(t.lan.slice(before), [['ens19', true]], 'asserted while the delta is still being applied');
    open();
    await run;
    assert.deepEqual(t.lan.slice(before), [['ens19', true]], 'once per run');
    assert.deepEqual([t.outcomes.at(-1)?.mode, t.outcomes.at(-1)?.ok], ['delta', true]);
  });

  it('a delta the kernel does not expect (an element already there) is refused whole, and the run applies in full, naming the drift', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    // Another writer already put the client in lan_blocked: the kernel is not what the agent applied.
    t.kernel.table?.elements.set('lan_blocked', ['192.168.2.11']);
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    const run = t.outcomes.at(-1)!;
    assert.deepEqual([run.mode, run.ok], ['full', true]);
    assert.match(run.drift.join(), /delta refused by the kernel: .*File exists/);
    assert.deepEqual(t.kernel.table?.elements.get('lan_blocked'), ['192.168.2.11']);
    assert.deepEqual(t.kernel.table?.elements.get('lan_mapped'), ['192.168.2.10']);
  });

  it('writes the state file after the run is reported and before request() resolves', async () => {
    const t = setup(policy([c(10)]));
    let open!: () => void;
    t.gateSave(new Promise<void>((resolve) => (open = resolve)));
    let resolved = false;
    const request = t.reconciler.request('start').then(() => (resolved = true));
    while (t.outcomes.length === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(t.outcomes[0]?.mode, 'full', 'reported while the file is still being written');
    assert.equal(t.outcomes[0]?.phases.state, undefined);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(resolved, false, 'the notice is not acknowledged before the state file is written');
    assert.equal(t.saved.length, 0);
    open();
    await request;
    assert.equal(t.saved.length, 1);
  });

  it('a state file that could not be written is reported by the next run, which writes it again', async () => {
    const t = setup(policy([c(10)]));
    t.failSaves(true);
    await t.reconciler.request('start');
    assert.equal(t.outcomes.at(-1)?.ok, true, 'the write had not failed yet when the run was reported');
    t.failSaves(false);
    await t.reconciler.request('resync');
    assert.deepEqual(t.outcomes.at(-1)?.errors, [{ cause: 'state_file', message: 'EROFS: read-only file system' }]);
    assert.equal(t.saved.length, 1, 'written again');
    await t.reconciler.request('resync');
    assert.equal(t.outcomes.at(-1)?.ok, true);
  });

  it('coalesces requests made during a run into exactly one more run', async () => {
    const t = setup(policy([c(10)]));
    let open!: () => void;
    t.gate(new Promise<void>((resolve) => (open = resolve)));
    const first = t.reconciler.request('a');
    const waits = [t.reconciler.request('b'), t.reconciler.request('c'), t.reconciler.request('d')];
    assert.equal(waits[0], waits[2]);
    open();
    await Promise.all([first, ...waits]);
    assert.equal(t.loads(), 2);
    assert.deepEqual(t.outcomes.map((o) => o.trigger), ['a', 'b']);
    assert.deepEqual(t.loadedFor, [['a'], ['b', 'c', 'd']], 'the queued run loads for every request it serves');
  });

  it('re-applies in full when the table vanished (another tool flushed the ruleset)', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    t.kernel.table = null;
    await t.reconciler.request('resync');
    const last = t.outcomes.at(-1)!;
    assert.equal(last.mode, 'full');
    assert.deepEqual(last.drift, ['table inet pgw is missing']);
    assert.deepEqual(t.kernel.table!.elements.get('lan_mapped'), ['192.168.2.10']);
  });

  it('restores a vanished table even while Postgres is down', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    t.setDbDown(true);
    t.kernel.table = null;
    await t.reconciler.request('resync');
    const last = t.outcomes.at(-1)!;
    assert.equal(last.ok, false);
    assert.equal(last.errors[0]?.cause, 'desired_state');
    assert.equal(last.mode, 'full');
    assert.ok(t.kernel.table);
  });

  it('a restore while Postgres is down whose read-back fails: reported, the LAN kept, and the runs after it still happen', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    t.setDbDown(true);
    t.kernel.table = null;
    // Every run's first read finds the table missing (fullVerifyEvery 1); the read-back after the restore fails.
    t.failListings(2);
    t.kernel.table = null;
    const lans = t.lan.length;
    await t.reconciler.request('resync');
    const last = t.outcomes.at(-1)!;
    assert.equal(last.ok, false);
    assert.deepEqual(last.errors.map((e) => e.cause), ['desired_state', 'verify']);
    assert.ok(t.kernel.table, 'the table was restored');
    assert.deepEqual(t.lan.slice(lans), [['ens19', false]], 'route_localnet off while the read-back failed, forwarding still asserted');
    // Still down: the table in force is known no more, so it is restored again and read back.
    await t.reconciler.request('resync');
    assert.equal(t.outcomes.at(-1)?.errors[0]?.cause, 'desired_state');
    t.setDbDown(false);
    await t.reconciler.request('resync');
    assert.equal(t.outcomes.at(-1)?.ok, true);
  });

  it('a run that throws does not stall the queue: the run queued behind it still starts', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    let release!: () => void;
    t.gate(new Promise<void>((resolve) => (release = resolve)));
    const report = t.ports.report;
    let throwOnce = true;
    t.ports.report = (outcome) => {
      if (throwOnce) throw ((throwOnce = false), new Error('a reporter bug'));
      report(outcome);
    };
    const loads = t.loads();
    const first = t.reconciler.request('resync');
    const second = t.reconciler.request('event:mapping.changed');
    release();
    await assert.rejects(first, /a reporter bug/);
    await second;
    assert.equal(t.loads(), loads + 2, 'the queued run ran');
    await t.reconciler.request('resync');
    assert.equal(t.loads(), loads + 3, 'and the runs after it');
  });

  it('falls back from a refused delta to a full apply; when nft refuses both, keeps and reports the previous ruleset', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    t.setDesired(policy([c(10), c(11)]));
    t.kernel.failNext = true;
    await t.reconciler.request('event:mapping.changed');
    // The delta was refused; the full replacement that follows it succeeds.
    const last = t.outcomes.at(-1)!;
    assert.equal(last.mode, 'full');
    assert.ok(last.ok);
    t.setDesired(policy([c(10), c(11), c(12)]));
    const scripts = t.kernel.scripts.length;
    t.kernel.apply = function (script) {
      this.scripts.push(script);
      throw new Error('Error: syntax error');
    };
    await t.reconciler.request('event:mapping.changed');
    const failed = t.outcomes.at(-1)!;
    assert.equal(failed.ok, false);
    assert.deepEqual(failed.errors.map((e) => e.cause), ['nft_apply']);
    assert.equal(failed.build?.policy.clients.length, 2, 'reports the policy still in force');
    assert.equal(t.kernel.scripts.length, scripts + 2, 'tried the delta, then the full script');
    assert.deepEqual(t.kernel.table!.elements.get('lan_mapped'), ['192.168.2.10', '192.168.2.11']);
  });

  it('a new table shape the kernel refuses every time (a setting it cannot do): the clients’ changes still land under the shape in force, a proxy-down block included', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    // dnsMode changes the table's shape; this kernel refuses every full replacement from now on.
    const original = t.kernel.apply.bind(t.kernel);
    t.kernel.apply = function (script, of) {
      if (script.includes('delete table inet pgw')) {
        this.scripts.push(script);
        throw new Error('Error: Could not process rule: No such file or directory');
      }
      original(script, of);
    };
    t.setDesired({ ...policy([c(10), c(11, 'proxy_down')]), dnsMode: 'proxy' });
    const lans = t.lan.length;
    await t.reconciler.request('event:proxy.status');
    const run = t.outcomes.at(-1)!;
    assert.equal(run.ok, false);
    assert.deepEqual(run.errors.map((e) => e.cause), ['nft_apply']);
    assert.deepEqual(t.kernel.table!.elements.get('lan_blocked'), ['192.168.2.11'], 'the dead proxy’s client is blocked in the kernel');
    assert.equal(run.build?.policy.dnsMode, 'drop', 'reports the shape in force');
    assert.deepEqual(t.lan.slice(lans).at(-1), ['ens19', true], 'the table in force still closes the loopback hole');
    // And the next change of a client lands too (the same refusal each run).
    t.setDesired({ ...policy([c(10, 'proxy_down'), c(11, 'proxy_down')]), dnsMode: 'proxy' });
    await t.reconciler.request('event:proxy.status');
    assert.deepEqual(t.kernel.table!.elements.get('lan_blocked'), ['192.168.2.10', '192.168.2.11']);
  });

  it('while the kernel refuses a new table shape, the idle runs still read the table in force back and restore what was removed behind the agent', async () => {
    const t = await underRefusedShape();
    assert.deepEqual(t.outcomes.at(-1)!.errors.map((e) => e.cause), ['nft_apply']);
    // Behind the agent's back: a mapped client's element removed.
    t.kernel.table!.elements.set('lan_mapped', ['192.168.2.10']);
    const reads = t.reads.full;
    await t.reconciler.request('resync');
    const run = t.outcomes.at(-1)!;
    assert.ok(t.reads.full > reads, 'the table in force was read back');
    assert.notDeepEqual(run.drift, [], 'the removal is reported as drift');
    assert.deepEqual(t.kernel.table!.elements.get('lan_mapped'), ['192.168.2.10', '192.168.2.11'], 'and undone');
    assert.deepEqual(run.errors.map((e) => e.cause), ['nft_apply'], 'the refused shape is still reported');
    // The refused shape's error is not about the table in force, which closes the loopback hole.
    assert.deepEqual(t.lan.at(-1), ['ens19', true], 'route_localnet stays on');
    await t.reconciler.request('resync');
    assert.deepEqual(t.lan.at(-1), ['ens19', true], 'and on the next idle run too');
  });

  it('while the kernel refuses a new table shape, a read-back failure after a restore does not stop the runs: the next applies the shape in force in full, a block included', async () => {
    const t = await underRefusedShape();
    // The idle run's read-back times out, and so does the read-back of the restore it makes.
    t.failListings(2);
    await t.reconciler.request('resync');
    assert.ok(t.outcomes.at(-1)!.errors.some((e) => e.cause === 'verify'), 'the failed read-back is reported');
    // The proxy of client 11 dies: its block must reach the kernel.
    t.setDesired({ ...policy([c(10), c(11, 'proxy_down')]), dnsMode: 'proxy' });
    const lans = t.lan.length;
    await t.reconciler.request('event:proxy.status');
    const run = t.outcomes.at(-1)!;
    assert.deepEqual(t.kernel.table!.elements.get('lan_blocked'), ['192.168.2.11'], 'the block is in the kernel');
    assert.equal(run.mode, 'full', 'the shape in force applied in full');
    assert.deepEqual(run.errors.map((e) => e.cause), ['nft_apply'], 'only the refused shape is reported');
    assert.deepEqual(t.lan.slice(lans).at(-1), ['ens19', true], 'the LAN asserted, route_localnet on');
  });

  it('enforces the cached policy at start, then needs no apply when Postgres says the same', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.enforceCached(policy([c(10)]));
    assert.equal(t.outcomes.at(-1)?.trigger, 'state_file');
    assert.equal(t.loads(), 0);
    await t.reconciler.request('start');
    assert.equal(t.outcomes.at(-1)?.mode, 'none');
    assert.equal(t.kernel.scripts.length, 1);
    assert.throws(() => t.reconciler.enforceCached(policy([])), /only for the start/);
  });

  it('checks an unchanged snapshot cheaply (chains only, nothing rendered); every n-th run reads the elements back', async () => {
    const t = setup(policy([c(10)]), 3);
    await t.reconciler.request('start');
    assert.deepEqual(t.reads, { full: 1, chains: 0 }, 'the apply is verified in full');
    for (let i = 0; i < 6; i++) await t.reconciler.request('resync');
    assert.deepEqual(t.reads, { full: 3, chains: 4 });
    assert.ok(t.outcomes.slice(1).every((o) => o.mode === 'none' && o.ok && o.phases.render === undefined));
    // An element removed behind the agent's back is found by the next full read-back.
    t.kernel.table!.elements.set('lan_mapped', []);
    for (let i = 0; i < 3; i++) await t.reconciler.request('resync');
    assert.equal(t.outcomes.filter((o) => o.mode === 'full').length, 2);
    assert.deepEqual(t.kernel.table!.elements.get('lan_mapped'), ['192.168.2.10']);
  });

  it('ends the old-port connections of a client moved to another port; a proxy change on the same port is the forwarder’s', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    const scripts = t.kernel.scripts.length;
    t.setDesired(policy([c(10), { ...c(11), proxyId: 2 }]));
    await t.reconciler.request('event:mapping.changed');
    assert.equal(t.kernel.scripts.length, scripts, 'nothing to apply');
    assert.deepEqual(t.disconnected.at(-1), []);
    t.setDesired(policy([c(10), { ...c(11), proxyId: 2, port: parsePort(20099) }]));
    await t.reconciler.request('event:mapping.changed');
    assert.deepEqual(t.disconnected.at(-1), [{ ip: '192.168.2.11', keepPort: 20099 }], 'all but those on its new port');
  });

  it('a rule replaced in place (the counts unchanged) is found by the full read-back and put back', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    t.kernel.table!.rules.set('lan_input', 'lan_input with one rule replaced by hand');
    await t.reconciler.request('resync');
    const last = t.outcomes.at(-1)!;
    assert.equal(last.mode, 'full');
    assert.deepEqual(last.drift, ['chain lan_input: its rules differ from those applied']);
    assert.equal(t.kernel.table!.rules.get('lan_input'), 'rules of lan_input as applied');
    await t.reconciler.request('resync');
    assert.equal(t.outcomes.at(-1)?.mode, 'none', 'intact again');
  });

  it('asserts the LAN sysctls on every run, idle ones too; route_localnet only while the table is in force', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    await t.reconciler.request('resync');
    assert.deepEqual(t.lan, [['ens19', true], ['ens19', true]]);
    // The table vanished and nft refuses to restore it: the loopback hole must close.
    t.kernel.table = null;
    t.kernel.failNext = true;
    await t.reconciler.request('resync');
    assert.deepEqual(t.lan.at(-1), ['ens19', false]);
    assert.equal(t.outcomes.at(-1)?.ok, false);
    assert.equal(t.outcomes.at(-1)?.tableInForce, false);
  });

  it('a new snapshot with the same ruleset over a vanished table that nft refuses to restore: route_localnet off, not on', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    // A proxy change on the same port: another snapshot, the same ruleset (an empty delta).
    t.setDesired(policy([c(10), { ...c(11), proxyId: 2 }]));
    t.kernel.table = null;
    t.kernel.failNext = true;
    const lans = t.lan.length;
    await t.reconciler.request('event:mapping.changed');
    assert.deepEqual(t.outcomes.at(-1)?.errors.map((e) => e.cause), ['nft_apply']);
    assert.equal(t.kernel.table, null);
    assert.deepEqual(t.lan.slice(lans), [['ens19', false]], 'the loopback hole stays closed while no table is in force');
  });

  it('a changed snapshot (a delta) over a vanished table that nft refuses to restore: route_localnet off at every run, not on', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    t.kernel.table = null;
    t.kernel.refuseAll = true;
    // A client unmapped: elements change, the delta path; then the periodic runs while nft still refuses.
    t.setDesired(policy([c(10)]));
    assert.equal(t.outcomes.at(-1)?.tableInForce, true);
    for (const trigger of ['event:mapping.changed', 'resync', 'resync'] as const) {
      await t.reconciler.request(trigger);
      assert.ok(t.outcomes.at(-1)?.errors.some((e) => e.cause === 'nft_apply'), `${trigger}: the refusal is reported`);
      assert.deepEqual(t.lan.at(-1), ['ens19', false], `${trigger}: the loopback hole stays closed while no table is in force`);
      assert.equal(t.outcomes.at(-1)?.tableInForce, false, `${trigger}: reported (the HA check leaves the address to the peer)`);
    }
    t.kernel.refuseAll = false;
    await t.reconciler.request('resync');
    assert.deepEqual(t.lan.at(-1), ['ens19', true], 'on again once the table is');
    assert.equal(t.outcomes.at(-1)?.tableInForce, true);
  });

  it('keeps the previous policy in force when the settings are refused, and reports every reason', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    const scripts = t.kernel.scripts.length;
    t.refuse(new SettingsRefused([{ subject: 'lanInterface', reason: 'lanInterface "ens20" does not exist on this gateway' }]));
    t.setDesired(policy([c(10), c(11)]));
    await t.reconciler.request('event:config.changed');
    const outcome = t.outcomes.at(-1)!;
    assert.equal(outcome.ok, false);
    assert.deepEqual(outcome.errors, [{ cause: 'refused', message: 'settings refused: lanInterface "ens20" does not exist on this gateway' }]);
    assert.deepEqual(outcome.refusals, [{ subject: 'lanInterface', reason: 'lanInterface "ens20" does not exist on this gateway' }]);
    assert.equal(t.kernel.scripts.length, scripts, 'nothing applied');
    assert.deepEqual(t.kernel.table!.elements.get('lan_mapped'), ['192.168.2.10']);
    assert.deepEqual(t.lan.at(-1), ['ens19', true], 'the previous LAN interface stays prepared');
  });

  it('a build under the accepted settings (the new ones refused) applies, and the run reports the refusal', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    const refusal = { subject: 'lanInterface', reason: 'lanInterface "ens20" does not exist on this gateway' };
    t.refuseSettingsOnly([refusal]);
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    const outcome = t.outcomes.at(-1)!;
    assert.equal(outcome.ok, false);
    assert.deepEqual(outcome.errors, [{ cause: 'refused', message: `settings refused: ${refusal.reason}` }]);
    assert.deepEqual(outcome.refusals, [refusal]);
    assert.deepEqual(t.kernel.table!.elements.get('lan_blocked'), ['192.168.2.11'], 'the dead proxy\'s client is blocked in the kernel');
  });

  it('a LAN the guard does not cover: the build applies and succeeds, the guard listed among the refusals', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    const refusal = { subject: 'lanInterface', reason: 'lanInterface "ens19" is not the guard\'s LAN interface "ens20"' };
    t.guardNotCovering(refusal);
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    const outcome = t.outcomes.at(-1)!;
    assert.equal(outcome.ok, true, 'the rules are applied');
    assert.deepEqual(outcome.errors, []);
    assert.deepEqual(outcome.refusals, [refusal]);
    assert.deepEqual(t.kernel.table!.elements.get('lan_blocked'), ['192.168.2.11'], 'applied all the same');
  });

  it('all.route_localnet on: the build applies and succeeds, the open hole listed among the refusals after the guard', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    const guard = { subject: 'lanInterface', reason: 'lanInterface "ens19" is not the guard\'s LAN interface "ens20"' };
    const localnet = { subject: 'route_localnet', reason: 'net.ipv4.conf.all.route_localnet is 1' };
    t.guardNotCovering(guard);
    t.localnetOpen(localnet);
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    const outcome = t.outcomes.at(-1)!;
    assert.equal(outcome.ok, true, 'the rules are applied');
    assert.deepEqual(outcome.refusals, [guard, localnet]);
  });

  it('a build of the rows last read (Postgres away) applies the agent\'s own change, a client over quota blocked, and the run reports the failed load', async () => {
    const t = setup(policy([c(10), c(11)]));
    await t.reconciler.request('start');
    t.rowsUnreadable('connect ECONNREFUSED /var/run/postgresql/.s.PGSQL.5432');
    t.setDesired(policy([c(10), c(11, 'quota_exceeded')]));
    await t.reconciler.request('quota');
    const outcome = t.outcomes.at(-1)!;
    assert.equal(outcome.ok, false);
    assert.deepEqual(outcome.errors, [{ cause: 'desired_state', message: 'connect ECONNREFUSED /var/run/postgresql/.s.PGSQL.5432' }]);
    assert.deepEqual(t.kernel.table!.elements.get('lan_blocked'), ['192.168.2.11'], 'the client over quota is blocked in the kernel');
  });

  it('self-heal: restoreInForce puts back in full the ruleset of the last write, a delta’s result included, without loading', async () => {
    const t = setup(policy([c(10), c(11)]));
    assert.deepEqual(await t.reconciler.restoreInForce(false), { result: 'nothing_in_force' });
    await t.reconciler.request('start');
    t.setDesired(policy([c(10), c(11, 'proxy_down')]));
    await t.reconciler.request('event:proxy.status');
    assert.equal(t.outcomes.at(-1)?.mode, 'delta');
    const loads = t.loads();
    t.kernel.table = null; // another tool's flush
    assert.deepEqual(await t.reconciler.restoreInForce(false), { result: 'restored' });
    assert.match(t.kernel.scripts.at(-1)!, /delete table inet pgw/);
    assert.deepEqual(t.kernel.table!.elements.get('lan_blocked'), ['192.168.2.11'], 'the state after the delta, not before');
    assert.equal(t.loads(), loads, 'the desired state is not loaded');
    const scripts = t.kernel.scripts.length;
    assert.deepEqual(await t.reconciler.restoreInForce(true), { result: 'intact' });
    assert.equal(t.kernel.scripts.length, scripts, 'a check that verifies writes nothing');
    t.kernel.table!.elements.set('lan_mapped', ['192.168.2.10', '192.168.2.99']); // an element added by hand
    assert.deepEqual(await t.reconciler.restoreInForce(true), { result: 'restored' });
    assert.deepEqual(t.kernel.table!.elements.get('lan_mapped'), ['192.168.2.10']);
  });

  it('self-heal: restores and runs interleave only between nft writes, so a run’s change is never undone', async () => {
    const t = setup(policy([c(10)]));
    await t.reconciler.request('start');
    t.setDesired(policy([c(10), c(12)]));
    const run = t.reconciler.request('event:mapping.changed');
    const heals = [t.reconciler.restoreInForce(false)];
    await run;
    heals.push(t.reconciler.restoreInForce(false));
    await Promise.all(heals);
    assert.match(t.kernel.scripts.at(-1)!, /delete table inet pgw/);
    assert.deepEqual(t.kernel.table!.elements.get('lan_mapped'), ['192.168.2.10', '192.168.2.12']);
  });
});
