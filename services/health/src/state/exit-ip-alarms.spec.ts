import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExitIpAlarmMemory, exitIpAlarms } from './exit-ip-alarms.js';

const GATEWAY = ['198.51.100.1', '192.168.2.1', '127.0.0.1', '203.0.113.128/25'];

test('a proxy leaving from its own distinct address raises nothing', () => {
  assert.deepEqual(exitIpAlarms('198.51.100.10', GATEWAY, []), []);
});

test("the gateway's own address as exit: the proxy does not proxy", () => {
  assert.deepEqual(exitIpAlarms('198.51.100.1', GATEWAY, []), [{ kind: 'gateway_address', exitIp: '198.51.100.1', others: [] }]);
});

test("an exit inside a range the gateway delivers locally (AnyIP), or the gateway's address in another spelling: the proxy does not proxy", () => {
  assert.deepEqual(exitIpAlarms('203.0.113.200', GATEWAY, []), [{ kind: 'gateway_address', exitIp: '203.0.113.200', others: [] }]);
  assert.deepEqual(exitIpAlarms('::ffff:198.51.100.1', GATEWAY, []).map((a) => a.kind), ['gateway_address']);
  assert.deepEqual(exitIpAlarms('203.0.113.100', GATEWAY, []), []);
});

test("the proxy's own address as exit when it should differ: proxy_address; nothing when it may be its own", () => {
  assert.deepEqual(exitIpAlarms('203.0.113.7', GATEWAY, [], '203.0.113.7'), [{ kind: 'proxy_address', exitIp: '203.0.113.7', others: [] }]);
  assert.deepEqual(exitIpAlarms('203.0.113.9', GATEWAY, [], '203.0.113.7'), [], 'a pool exit elsewhere is what was asked for');
  assert.deepEqual(exitIpAlarms('203.0.113.7', GATEWAY, [], null), [], 'exitDiffers off (the default)');
});

test('an exit shared with other proxies names them, in id order; both alarms at once', () => {
  assert.deepEqual(exitIpAlarms('198.51.100.1', GATEWAY, [{ proxyId: 9, name: 'b' }, { proxyId: 3, name: 'a' }]), [
    { kind: 'gateway_address', exitIp: '198.51.100.1', others: [] },
    { kind: 'shared', exitIp: '198.51.100.1', others: [{ proxyId: 3, name: 'a' }, { proxyId: 9, name: 'b' }] },
  ]);
});

test('announced once while it holds, again when it changes; cleared alarms leave the raised set', () => {
  const memory = new ExitIpAlarmMemory();
  const shared = exitIpAlarms('198.51.100.10', GATEWAY, [{ proxyId: 3, name: 'a' }]);
  assert.equal(memory.update(1, shared).announce.length, 1);
  assert.equal(memory.update(1, shared).announce.length, 0, 'the same alarm is not announced at every probe');
  const wider = exitIpAlarms('198.51.100.10', GATEWAY, [{ proxyId: 3, name: 'a' }, { proxyId: 4, name: 'c' }]);
  assert.equal(memory.update(1, wider).announce.length, 1, 'another proxy joined');
  const cleared = memory.update(1, []);
  assert.deepEqual([cleared.announce, [...cleared.raised]], [[], []]);
  assert.equal(memory.update(1, shared).announce.length, 1, 'raised again after it cleared');
});
