import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SETTINGS, type GatewayPolicy, parseInterfaceName, parseIpv4, parseIpv4Cidr, parseMacAddress, parsePort } from '@pgw/domain';
import { decodeStateFile, encodeStateFile } from './policy-codec.js';

const policy: GatewayPolicy = {
  lan: { interface: parseInterfaceName('ens19'), cidr: parseIpv4Cidr('192.168.2.0/24') },
  wan: { interface: parseInterfaceName('eth0') },
  dnsMode: 'drop',
  clients: [{ mappingId: 1, proxyId: 2, ip: parseIpv4('192.168.2.10'), port: parsePort(20000), mac: parseMacAddress('52:54:00:ab:cd:0f'), blocked: 'proxy_down' }],
  vrrpPeer: { interface: parseInterfaceName('eth1'), ip: parseIpv4('198.51.100.2') },
  strictOutput: { allowedUids: [999], upstreams: [{ ip: parseIpv4('198.51.100.10'), port: parsePort(1080) }] },
};

function tampered(edit: (raw: { policy: Record<string, any> }) => void): string {
  const raw = JSON.parse(encodeStateFile({ policy, quota: null }));
  edit(raw);
  return JSON.stringify(raw);
}

describe('state file codec', () => {
  it('round-trips a policy', () => {
    assert.deepEqual(decodeStateFile(encodeStateFile({ policy, quota: null })), { policy, quota: null });
    const quota = { period: 'daily', timeZone: 'Europe/Berlin' } as const;
    assert.deepEqual(decodeStateFile(encodeStateFile({ policy, quota })), { policy, quota });
    assert.deepEqual(decodeStateFile(encodeStateFile({ policy, quota, quotaPeriodKey: 'd20261207', quotaOver: ['q1_0', 'q12_3'] })), { policy, quota, quotaPeriodKey: 'd20261207', quotaOver: ['q1_0', 'q12_3'] });
  });

  it('keeps the settings the policy was built under, validated as the database row is (refused ones are left out, the policy kept)', () => {
    const settings = { ...DEFAULT_SETTINGS, lanInterface: parseInterfaceName('ens19') };
    assert.deepEqual(decodeStateFile(encodeStateFile({ policy, quota: null, settings })), { policy, quota: null, settings });
    // Settings a later release's schema refuses (or a time zone gone from ICU) must not cost the
    // boot its policy: they are left out, with the reason; the policy is enforced all the same.
    const stale = decodeStateFile(JSON.stringify({ version: 1, policy, settings: { ...settings, lanInterface: 'lo;' } }));
    assert.deepEqual(stale.policy, policy);
    assert.equal(stale.settings, undefined);
    assert.match(stale.leftOut ?? '', /settings\.lanInterface/);
  });

  it('rejects a quota period key that is not a window key, or a stem that is not one, naming it', () => {
    for (const key of ['m2026', 'd20261207; x', 'x202612', '']) {
      assert.throws(() => decodeStateFile(JSON.stringify({ version: 1, policy, quotaPeriodKey: key })), /quotaPeriodKey/, key);
    }
    assert.throws(() => decodeStateFile(JSON.stringify({ version: 1, policy, quotaOver: ['q1_0', 'q1_0 }'] })), /quotaOver\.1/);
  });

  it('rejects injection attempts in every field that reaches nft, naming the field', () => {
    const cases: [string, (raw: { policy: Record<string, any> }) => void, RegExp][] = [
      ['interface with ;', (r) => (r.policy.wan.interface = 'eth0; flush ruleset'), /policy\.wan\.interface/],
      ['interface with }', (r) => (r.policy.lan.interface = 'ens19}'), /policy\.lan\.interface/],
      ['interface with quote', (r) => (r.policy.lan.interface = 'ens19"'), /policy\.lan\.interface/],
      ['interface with newline', (r) => (r.policy.lan.interface = 'ens\n19'), /policy\.lan\.interface/],
      ['client ip with newline', (r) => (r.policy.clients[0].ip = '192.168.2.10\nflush ruleset'), /policy\.clients\.0\.ip/],
      ['client ip with }', (r) => (r.policy.clients[0].ip = '192.168.2.10 }'), /policy\.clients\.0\.ip/],
      ['port as string', (r) => (r.policy.clients[0].port = '20000; drop'), /policy\.clients\.0\.port/],
      ['cidr with rule', (r) => (r.policy.lan.cidr = '192.168.2.0/24 accept'), /policy\.lan\.cidr/],
      ['mac with }', (r) => (r.policy.clients[0].mac = '52:54:00:ab:cd:0f }'), /policy\.clients\.0\.mac/],
      ['broadcast mac', (r) => (r.policy.clients[0].mac = 'ff:ff:ff:ff:ff:ff'), /policy\.clients\.0\.mac: .*broadcast/],
      ['unknown reason', (r) => (r.policy.clients[0].blocked = 'whatever'), /policy\.clients\.0\.blocked/],
      ['upstream ip', (r) => (r.policy.strictOutput.upstreams[0].ip = '198.51.100.10;'), /policy\.strictOutput\.upstreams\.0\.ip/],
      ['uid', (r) => (r.policy.strictOutput.allowedUids[0] = -1), /policy\.strictOutput\.allowedUids\.0/],
      ['vrrp peer ip', (r) => (r.policy.vrrpPeer.ip = '198.51.100.2 accept'), /policy\.vrrpPeer\.ip/],
      ['vrrp link', (r) => (r.policy.vrrpPeer.interface = 'eth1"'), /policy\.vrrpPeer\.interface/],
    ];
    for (const [label, edit, pattern] of cases) assert.throws(() => decodeStateFile(tampered(edit)), pattern, label);
  });

  it('leaves out a quota period or time zone that is not one (a zone gone from ICU), naming the field, and keeps the policy', () => {
    const withQuota = (quota: unknown) => JSON.stringify({ version: 1, policy, quota, quotaPeriodKey: 'd20261207', quotaOver: ['q1_0'] });
    for (const [quota, field] of [[{ period: 'weekly', timeZone: 'UTC' }, /quota\.period/], [{ period: 'daily', timeZone: 'Mars/Olympus' }, /quota\.timeZone/]] as const) {
      const file = decodeStateFile(withQuota(quota));
      assert.deepEqual(file.policy, policy);
      assert.equal(file.quota, null, 'the quota tables wait for the database\'s settings');
      assert.equal(file.quotaPeriodKey, undefined, 'no stem is held without its period');
      assert.match(file.leftOut ?? '', field);
    }
  });

  it('reads a state file written before MAC pins existed: its clients are not pinned', () => {
    const old = tampered((r) => delete r.policy.clients[0].mac);
    assert.equal(decodeStateFile(old).policy.clients[0]!.mac, undefined);
  });

  it('rejects a file that is not JSON or of another version', () => {
    assert.throws(() => decodeStateFile('{'), /not JSON/);
    assert.throws(() => decodeStateFile(JSON.stringify({ version: 2, policy })), /version/);
  });
});
