// The upload limit of a client pinned to its MAC address, on the real kernel: tc's ingress filter
// redirects the client's packets to its HTB class on the IFB device by source address, before
// nftables drops a spoofer's (the MAC pin, table inet pgw). A LAN host sending with the pinned
// client's address from another MAC filled that client's upload class, slowing the client's own
// uploads to a crawl, while none of its bytes ever left. Namespaces of this test's own: the
// gateway's ens19, and two LAN hosts on macvlans of the cable's other end, the client (its own
// MAC) and a spoofer (another), both with the client's address; the plan is renderTcPlan's.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { GatewayPolicy, MacAddress } from '@pgw/domain';
import { IFB_DEVICE, parseTcFilters, renderTcPlan, type TcPlan } from '../../services/agent/src/shaping/render-shaping.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ID = process.pid.toString(36);
const NS = { gateway: `pgw-tcpin-gw-${ID}`, lan: `pgw-tcpin-lan-${ID}`, client: `pgw-tcpin-cl-${ID}`, spoofer: `pgw-tcpin-sp-${ID}` };
const CLIENT_MAC = '02:00:00:00:10:10' as MacAddress;
const SPOOFER_MAC = '02:00:00:00:66:66';
const CLIENT_IP = '192.168.2.10';
const PACKETS = 200;

const inNs = (ns: string, argv: string[], input?: string) => execFileSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', cwd: REPO, input, timeout: 30_000 });
const ip = (ns: string, command: string) => inNs(ns, ['ip', ...command.split(' ')]);

/** PACKETS UDP datagrams from `ns` (the client's address) to the gateway. */
function send(ns: string): void {
  inNs(ns, [process.execPath, '-e', `const s = require('node:dgram').createSocket('udp4'); let n = 0;
const next = () => n++ < ${PACKETS} ? s.send(Buffer.alloc(100), 9, '192.168.2.1', next) : s.close(); next();`]);
}

/** Packets the client's upload class on the IFB device has taken. */
function uploadClassPackets(): number {
  const shown = inNs(NS.gateway, ['tc', '-s', 'class', 'show', 'dev', IFB_DEVICE]);
  const sent = /class htb 1:1 [^]*?Sent \d+ bytes (\d+) pkt/.exec(shown);
  assert.ok(sent, shown);
  return Number(sent[1]);
}

describe('tc upload shaping of a MAC-pinned client, real kernel', { timeout: 60_000 }, () => {
  let plan: TcPlan;
  before(() => {
    for (const ns of Object.values(NS)) execFileSync('ip', ['netns', 'add', ns]);
    ip(NS.gateway, `link add ens19 type veth peer name gw0 netns ${NS.lan}`);
    ip(NS.gateway, 'addr add 192.168.2.1/24 dev ens19');
    ip(NS.gateway, 'link set ens19 up');
    ip(NS.lan, 'link set gw0 up');
    for (const [ns, mac, dev] of [[NS.client, CLIENT_MAC, 'cl0'], [NS.spoofer, SPOOFER_MAC, 'sp0']] as const) {
      ip(NS.lan, `link add ${dev} link gw0 address ${mac} type macvlan mode bridge`);
      ip(NS.lan, `link set ${dev} netns ${ns}`);
      ip(ns, `addr add ${CLIENT_IP}/24 dev ${dev}`);
      ip(ns, `link set ${dev} up`);
      ip(ns, `neigh add 192.168.2.1 lladdr ${inNs(NS.gateway, ['cat', '/sys/class/net/ens19/address']).trim()} dev ${dev}`);
    }
    const policy = { lan: { interface: 'ens19' }, clients: [{ ip: CLIENT_IP, mac: CLIENT_MAC, shaping: { rateDownKbit: null, rateUpKbit: 1_000, quotaBytes: null, quotaEpoch: 0 } }] } as unknown as GatewayPolicy;
    plan = renderTcPlan(policy);
    ip(NS.gateway, `link add ${IFB_DEVICE} type ifb`);
    ip(NS.gateway, `link set ${IFB_DEVICE} up`);
    inNs(NS.gateway, ['tc', '-batch', '-'], plan.batch.join('\n') + '\n');
  });
  // Every namespace, whichever the setup got to: a failed delete must not hide the setup's own error.
  after(() => {
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  });

  it("takes the pinned client's own packets into its class, and none of a spoofer's with its address", () => {
    send(NS.client);
    const own = uploadClassPackets();
    assert.ok(own >= PACKETS, `the client's own packets were not shaped: ${own} of ${PACKETS} in its class`);
    send(NS.spoofer);
    const after = uploadClassPackets();
    console.log(`# upload class packets: ${own} after the client's ${PACKETS}, ${after} after a spoofer's ${PACKETS}`);
    assert.equal(after, own, `the spoofer's packets went into the pinned client's upload class (${after - own} of them)`);
  });

  it("the shaper's read-back finds the filter as it rendered it (the MAC matches follow the address key)", () => {
    const shown = inNs(NS.gateway, ['tc', 'filter', 'show', 'dev', 'ens19', 'parent', 'ffff:']);
    assert.match(shown, /at -8/, shown);
    assert.deepEqual(parseTcFilters(shown), plan.filters.get('ens19 ffff:'), shown);
  });
});
