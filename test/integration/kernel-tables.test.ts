// The agent's netlink reads (services/agent/src/netlink/) against the real kernel, in a network
// namespace this test creates: the rules and routes the planners of lan-routing.ts and
// policy-routing-tproxy.ts put in force read back as in force (no command planned), iproute2's own
// listing agrees field by field, a rule removed or edited by hand is seen, and nft chain names come
// from nf_tables as `nft` made them; neighbour entries of one interface as `ip -s neigh` lists them. The reads run in a child process inside the namespace.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { interfaceNameSchema } from '@pgw/domain';
import { deleteRule, routingCommands } from '../../services/agent/src/lan/lan-routing.js';
import type { NeighbourRow, RouteEntry, RoutingRule } from '../../services/agent/src/netlink/rtnetlink.js';
import { TPROXY_TABLE, tproxyRoutingCommands } from '../../services/agent/src/lan/policy-routing-tproxy.js';

const NS = `pgw-kt-${process.pid}`;
const READER = new URL('./fixtures/read-kernel-tables.ts', import.meta.url).pathname;
const lan = interfaceNameSchema.parse('ens19');
const moved = interfaceNameSchema.parse('ens20');

const ip = (...args: string[]) => execa('ip', ['-n', NS, ...args], { timeout: 10_000 });
const nft = (script: string) => execa('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: script, timeout: 10_000 });

async function read(iface: string = lan): Promise<{ rules: RoutingRule[]; routes: RouteEntry[]; chains: string[]; neighbours: NeighbourRow[] | string }> {
  const { stdout } = await execa('ip', ['netns', 'exec', NS, process.execPath, '--conditions=pgw-source', '--import', 'tsx', READER, String(TPROXY_TABLE), iface], { timeout: 20_000 });
  return JSON.parse(stdout);
}

/** What the agent would run: the planners' commands, through ip in the namespace. */
async function enforce(iface: typeof lan): Promise<string[]> {
  const { rules, routes } = await read();
  const commands = [...routingCommands(rules, iface), ...tproxyRoutingCommands(rules, routes, iface, true)];
  for (const command of commands) await ip(...command.split(' '));
  return commands;
}

/** Namespaces of earlier runs whose process is gone (a run killed before its after hook). */
async function sweepStale(): Promise<void> {
  const { stdout } = await execa('ip', ['netns', 'list']);
  for (const name of stdout.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    const pid = /^pgw-kt-(\d+)$/.exec(name)?.[1];
    if (!pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch {
      await execa('ip', ['netns', 'del', name], { reject: false });
    }
  }
}

describe('netlink reads of rules, routes and nft chains (agent, in a namespace)', { timeout: 120_000 }, () => {
  before(async () => {
    await sweepStale();
    await execa('ip', ['netns', 'add', NS]);
    await ip('link', 'set', 'lo', 'up');
    // veth: the dummy module is not on every kernel this runs on.
    for (const name of [lan, moved]) await ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
  });
  after(async () => {
    await execa('ip', ['netns', 'del', NS], { reject: false });
  });

  it('a fresh namespace: the kernel default rules, no route in table 243, no table inet pgw', async () => {
    const { rules, routes, chains } = await read();
    assert.deepEqual(rules.map((r) => [r.priority, r.action, r.table]), [[0, 'lookup', 255], [32766, 'lookup', 254], [32767, 'lookup', 253]]);
    assert.deepEqual(routes, []);
    assert.deepEqual(chains, []);
  });

  it('the planned commands put the rules in force, read back as nothing left to do, as iproute2 lists them', async () => {
    const first = await enforce(lan);
    assert.equal(first.length, 6, `route, five rule commands: ${first.join('; ')}`);
    const { rules, routes } = await read();
    assert.deepEqual(routingCommands(rules, lan), [], 'the route_localnet closure is read back in force');
    assert.deepEqual(tproxyRoutingCommands(rules, routes, lan, true), [], 'the TPROXY routing is read back in force');
    // iproute2's listing of the same kernel state, field by field.
    const listed = JSON.parse((await ip('-j', 'rule', 'show')).stdout) as { priority: number; iif?: string; fwmark?: string; fwmask?: string; dst?: string; dstlen?: number; action?: string; table?: string; protocol?: string | number }[];
    assert.deepEqual(rules.map((r) => r.priority), listed.map((r) => r.priority));
    for (const [i, r] of rules.entries()) {
      const theirs = listed[i]!;
      assert.equal(r.iif, theirs.iif ?? null, `iif of pref ${r.priority}`);
      assert.equal(r.dst, theirs.dst ? `${theirs.dst}/${theirs.dstlen}` : null, `dst of pref ${r.priority}`);
      assert.equal(r.fwmark === null ? null : `0x${r.fwmark.toString(16)}`, theirs.fwmark ?? null, `fwmark of pref ${r.priority}`);
      assert.equal(r.action === 'blackhole', theirs.action === 'blackhole', `action of pref ${r.priority}`);
    }
    assert.deepEqual(rules.filter((r) => r.protocol === 242).map((r) => r.priority), [100, 101]);
    assert.ok(rules.some((r) => r.priority === 102 && r.table === 255 && r.protocol === 2), 'the moved local rule keeps the kernel\'s protocol');
    assert.deepEqual(rules.filter((r) => r.protocol === 243).map((r) => r.priority), [99]);
    assert.equal(rules.some((r) => r.priority === 0), false, 'pref 0 local rule moved after ours');
    assert.deepEqual(routes, [{ table: 243, type: 2, dst: '0.0.0.0/0', oif: 1, protocol: 243 }]);
    assert.deepEqual(await enforce(lan), [], 'a second assertion changes nothing');
  });

  it("a network manager that deletes every rule it did not make but the kernel's (systemd-networkd's ManageForeignRoutingPolicyRules): local delivery keeps its rule", async () => {
    const { rules } = await read();
    // What networkd does at its start and at a link's reconfiguration, with no .network rule of its own.
    for (const r of rules.filter((r) => r.protocol !== 2)) await ip(...deleteRule(r).split(' '));
    const left = (await read()).rules;
    assert.ok(
      left.some((r) => r.action === 'lookup' && r.table === 255 && r.iif === null && r.dst === null && r.fwmark === null),
      `no rule looks up the local table: the box's own loopback and addresses are unreachable (${left.map((r) => `${r.priority}:${r.table}/${r.protocol}`).join(' ')})`,
    );
    // The kernel's own route lookup, through the rules as they are: delivered locally, not unreachable.
    assert.match((await ip('route', 'get', '127.0.0.1')).stdout, /^local 127\.0\.0\.1 dev lo table local/);
    await enforce(lan);
    assert.deepEqual(await enforce(lan), [], 'put back whole by the next assertion');
  });

  it('a rule removed by hand, an edited one and a route gone are seen and put back', async () => {
    await ip('rule', 'del', 'pref', '101', 'protocol', '242');
    await ip('rule', 'del', 'pref', '99', 'protocol', '243');
    await ip('rule', 'add', 'pref', '99', 'iif', lan, 'fwmark', '0x1/0x1', 'lookup', '243', 'protocol', '243');
    await ip('route', 'flush', 'table', '243');
    const plan = await enforce(lan);
    assert.deepEqual(plan, [
      'rule add pref 101 iif ens19 to 127.0.0.0/8 blackhole protocol 242',
      'route replace local 0.0.0.0/0 dev lo table 243 protocol 243',
      'rule add pref 99 iif ens19 fwmark 0x2000000/0x2000000 lookup 243 protocol 243',
      'rule del pref 99 iif ens19 fwmark 0x1/0x1 lookup 243 protocol 243',
    ]);
    assert.deepEqual(await enforce(lan), []);
  });

  it('a rule of ours that differs from a wanted one only by its action is deleted, not the wanted one', async () => {
    await ip('rule', 'add', 'pref', '101', 'iif', lan, 'to', '127.0.0.0/8', 'lookup', 'main', 'protocol', '242');
    assert.deepEqual(await enforce(lan), ['rule del pref 101 iif ens19 to 127.0.0.0/8 lookup 254 protocol 242']);
    const { rules } = await read();
    assert.ok(rules.some((r) => r.priority === 101 && r.action === 'blackhole'), 'the blackhole rule is still there');
    assert.deepEqual(await enforce(lan), []);
  });

  it('a new LAN interface: its rules come, the old interface\'s go, an operator rule stays', async () => {
    await ip('rule', 'add', 'pref', '500', 'iif', moved, 'lookup', 'main');
    const plan = await enforce(moved);
    assert.ok(plan.some((c) => c.startsWith('rule del pref 100 iif ens19 to 127.0.0.0/8')), plan.join('; '));
    const { rules } = await read();
    assert.equal(rules.some((r) => r.iif === lan), false, 'nothing of ens19 left');
    assert.ok(rules.some((r) => r.priority === 500 && r.iif === moved && r.protocol !== 242), 'the operator rule is kept');
    assert.deepEqual(await enforce(moved), []);
  });

  it("an operator's route in table 243 is read with its protocol: TPROXY mode refuses the table, DNAT mode leaves it alone", async () => {
    await ip('route', 'add', 'blackhole', '10.99.0.0/16', 'table', '243', 'proto', 'static');
    try {
      const { rules, routes } = await read();
      assert.ok(routes.some((r) => r.dst === '10.99.0.0/16' && r.protocol === 4), JSON.stringify(routes));
      assert.throws(() => tproxyRoutingCommands(rules, routes, lan, true), /routing table 243 holds routes or rules pgw did not add \(route 10\.99\.0\.0\/16 protocol 4\)/);
      assert.deepEqual(tproxyRoutingCommands(rules, routes, lan, false), []);
    } finally {
      await ip('route', 'del', 'blackhole', '10.99.0.0/16', 'table', '243');
    }
  });

  it('the neighbours of one interface with MAC, state, protocol and ages; an unknown interface is named', async () => {
    await ip('link', 'set', lan, 'up');
    await ip('neigh', 'replace', '192.168.2.10', 'lladdr', '52:54:00:AB:CD:0F', 'dev', lan, 'nud', 'permanent', 'protocol', '241');
    await ip('neigh', 'replace', '192.168.2.11', 'lladdr', '02:00:00:00:00:11', 'dev', lan, 'nud', 'stale');
    await ip('neigh', 'replace', '192.168.2.12', 'lladdr', '02:00:00:00:00:12', 'dev', moved, 'nud', 'stale');
    const { neighbours } = await read();
    assert.ok(Array.isArray(neighbours), String(neighbours));
    const byIp = new Map(neighbours.map((n) => [n.ip, n]));
    assert.deepEqual([...byIp.keys()].sort(), ['192.168.2.10', '192.168.2.11'], 'only the entries of ens19');
    assert.equal(byIp.get('192.168.2.10')!.mac, '52:54:00:ab:cd:0f');
    assert.deepEqual(byIp.get('192.168.2.10')!.states, ['PERMANENT']);
    assert.equal(byIp.get('192.168.2.10')!.protocol, 241);
    assert.deepEqual(byIp.get('192.168.2.11')!.states, ['STALE']);
    // iproute2's ages (whole seconds) for the same entries, read right after.
    const theirs = JSON.parse((await ip('-j', '-s', '-4', 'neigh', 'show', 'dev', lan)).stdout) as { dst: string; updated?: number }[];
    for (const row of theirs) {
      const mine = byIp.get(row.dst)!;
      assert.ok(mine.updatedMsAgo !== null && Math.abs(mine.updatedMsAgo / 1000 - (row.updated ?? 0)) <= 3, `${row.dst}: updated ${mine.updatedMsAgo} ms ago, ip says ${row.updated} s`);
    }
    assert.match(String((await read('nosuch0')).neighbours), /interface nosuch0: errno 19 \(no such device\)/);
  });

  it('nft chain names of table inet pgw only, and none once it is deleted', async () => {
    await nft(['table inet pgw {', '  chain prerouting { type nat hook prerouting priority -100; }', '  chain forward { type filter hook forward priority 0; }', '  chain lan_mark { }', '}', 'table inet other {', '  chain x { }', '}', 'table ip pgw {', '  chain y { }', '}', ''].join('\n'));
    assert.deepEqual((await read()).chains.sort(), ['forward', 'lan_mark', 'prerouting']);
    await nft('delete table inet pgw\n');
    assert.deepEqual((await read()).chains, []);
  });
});
