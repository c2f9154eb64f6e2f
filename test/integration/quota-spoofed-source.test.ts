// A quota counts only what the client itself sends (issue 16, docs/SECURITY.md flow 19): another
// LAN host that takes a MAC-pinned client's IP must not use up that client's quota or appear in its
// usage. The agent's real renderers (render-ruleset.ts, quota-table.ts) are loaded into a gateway
// namespace made here; a veth peer sends TCP SYNs from the client's IP, first with another MAC
// (the spoofer: nothing counted), then with the pinned MAC (the positive control: counted).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort } from '@pgw/domain';
import { renderRuleset } from '../../services/agent/src/ruleset/render-ruleset.js';
import { EMPTY_READING, quotaName, renderQuotaScript } from '../../services/agent/src/quota/quota-table.js';

const id = `${process.pid % 100000}`;
const GW = `pgw-qspoof-g${id}`;
const HOST = `pgw-qspoof-h${id}`;
const PINNED_MAC = '02:00:00:00:00:10';
const SPOOFER_MAC = '02:00:00:00:00:99';
const PERIOD = 'm202612';
const policy: GatewayPolicy = {
  lan: { interface: parseInterfaceName('qsg0'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  strictOutput: null,
  clients: [{ mappingId: 10, proxyId: 1, ip: parseIpv4('192.168.2.10'), port: parsePort(20010), blocked: null, mac: parseMacAddress(PINNED_MAC), shaping: { rateDownKbit: null, rateUpKbit: null, quotaBytes: 10_000_000, quotaEpoch: 0 } }],
};

const run = (args: string[], input?: string) => execFileSync(args[0]!, args.slice(1), { input, encoding: 'utf8', timeout: 20_000 });
const inNs = (ns: string, args: string[], input?: string) => run(['ip', 'netns', 'exec', ns, ...args], input);

/** Bytes the client's quota object has used and its upload accounting counter shows. */
function counted(): { quota: number; acctUp: number } {
  const quota = JSON.parse(inNs(GW, ['nft', '-j', 'list', 'quota', 'inet', 'pgw_quota', quotaName(10, 0, PERIOD)])) as { nftables: { quota?: { used: number } }[] };
  const set = JSON.parse(inNs(GW, ['nft', '-j', 'list', 'set', 'inet', 'pgw_acct', 'acct_up'])) as { nftables: { set?: { elem?: { elem: { counter?: { bytes: number } } }[] } }[] };
  const elems = set.nftables.find((o) => o.set)?.set?.elem ?? [];
  return { quota: quota.nftables.find((o) => o.quota)!.quota!.used, acctUp: elems.reduce((sum, e) => sum + (e.elem.counter?.bytes ?? 0), 0) };
}

/** 5 TCP connects from 192.168.2.10 with `mac` (each a few SYNs: nothing listens behind the gateway). */
function sendSyns(mac: string): void {
  inNs(HOST, ['ip', 'link', 'set', 'qsh0', 'address', mac]);
  inNs(HOST, ['ip', 'neigh', 'flush', 'dev', 'qsh0']);
  const script = `const net = require('node:net'); let left = 5;
for (let i = 0; i < 5; i++) { const s = net.connect({ host: '203.0.113.10', port: 80, localAddress: '192.168.2.10', timeout: 1200 });
  const done = () => { s.destroy(); if (--left === 0) process.exit(0); }; s.once('connect', done); s.once('timeout', done); s.once('error', done); }`;
  inNs(HOST, ['node', '-e', script]);
}

describe('a quota counts only the pinned client (real nftables, agent renderers, private namespaces)', { timeout: 60_000 }, () => {
  before(() => {
    run(['ip', 'netns', 'add', GW]);
    run(['ip', 'netns', 'add', HOST]);
    run(['ip', 'link', 'add', 'qsh0', 'netns', HOST, 'type', 'veth', 'peer', 'name', 'qsg0', 'netns', GW]);
    inNs(GW, ['ip', 'addr', 'add', '192.168.2.1/24', 'dev', 'qsg0']);
    inNs(GW, ['ip', 'link', 'set', 'qsg0', 'up']);
    inNs(HOST, ['ip', 'addr', 'add', '192.168.2.10/24', 'dev', 'qsh0']);
    inNs(HOST, ['ip', 'link', 'set', 'qsh0', 'up']);
    inNs(HOST, ['ip', 'route', 'add', 'default', 'via', '192.168.2.1']);
    inNs(GW, ['nft', '-f', '-'], renderRuleset(policy).script);
    inNs(GW, ['nft', '-f', '-'], renderQuotaScript(policy, PERIOD, EMPTY_READING, EMPTY_READING, Date.now() / 1000));
  });
  after(() => {
    for (const ns of [HOST, GW]) execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });

  it('another host sending from the client\'s IP with its own MAC uses none of the client\'s quota or usage', () => {
    sendSyns(SPOOFER_MAC);
    assert.deepEqual(counted(), { quota: 0, acctUp: 0 });
  });

  it('positive control: the same packets from the pinned MAC are counted', () => {
    sendSyns(PINNED_MAC);
    const after = counted();
    assert.ok(after.quota > 0 && after.acctUp > 0, `counted from the pinned MAC: ${JSON.stringify(after)}`);
  });
});
