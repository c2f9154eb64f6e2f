import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clientBlockReason } from './client-state.js';
import { DEFAULT_SETTINGS, settingsSchema } from './settings.js';

describe('settingsSchema', () => {
  it('has valid defaults matching the v1.1 topology', () => {
    assert.equal(DEFAULT_SETTINGS.lanInterface, 'ens19');
    assert.equal(DEFAULT_SETTINGS.wanInterface, 'eth0');
    assert.equal(DEFAULT_SETTINGS.healthIntervalS, 30);
    assert.equal(DEFAULT_SETTINGS.dnsMode, 'drop');
  });
  it('names the field that is wrong', () => {
    const result = settingsSchema.safeParse({ ...DEFAULT_SETTINGS, forwarderPortMin: 30000, forwarderPortMax: 20000 });
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['forwarderPortMin']);
    const same = settingsSchema.safeParse({ ...DEFAULT_SETTINGS, wanInterface: 'ens19' });
    assert.deepEqual(same.error?.issues[0]?.path, ['wanInterface']);
    const badIf = settingsSchema.safeParse({ ...DEFAULT_SETTINGS, lanInterface: 'ens19; flush ruleset' });
    assert.deepEqual(badIf.error?.issues[0]?.path, ['lanInterface']);
  });
  it('refuses a forwarder port window reaching below 1024', () => {
    const low = settingsSchema.safeParse({ ...DEFAULT_SETTINGS, forwarderPortMin: 1, forwarderPortMax: 65535 });
    assert.deepEqual(low.error?.issues.map((i) => [i.path, i.message]), [[['forwarderPortMin'], 'forwarderPortMin must be at least 1024 (lower ports belong to system services)']]);
    assert.equal(settingsSchema.safeParse({ ...DEFAULT_SETTINGS, forwarderPortMin: 1024 }).success, true);
  });
});

describe('clientBlockReason', () => {
  it('fails closed: only an enabled mapping on an up proxy is effective', () => {
    assert.equal(clientBlockReason({ enabled: true }, 'up'), null);
    assert.equal(clientBlockReason({ enabled: true }, 'down'), 'proxy_down');
    assert.equal(clientBlockReason({ enabled: true }, 'unknown'), 'proxy_unknown');
    assert.equal(clientBlockReason({ enabled: false }, 'up'), 'mapping_disabled');
  });
});
