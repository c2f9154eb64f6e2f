import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ExitIpAlarm, exitIpAlarmText, exitIpAlarmTitle, withExitIpAlarm } from './exit-ip-alarm-text.js';

const alarm = (over: Partial<ExitIpAlarm>): ExitIpAlarm => ({ type: 'proxy.exit_ip_alarm', proxyId: 1, name: 'relay', kind: 'gateway_address', exitIp: '198.51.100.1', others: [], at: '2026-01-01T00:00:00Z', ...over });

test('each alarm says what it means for the clients', () => {
  assert.match(exitIpAlarmText(alarm({})), /relay does not proxy: .*gateway's own address 198\.51\.100\.1/);
  assert.match(exitIpAlarmText(alarm({ kind: 'proxy_address', exitIp: '203.0.113.7' })), /relay does not proxy: .*the proxy's own address 203\.0\.113\.7, although it is set to exit from other addresses/);
  assert.deepEqual((['gateway_address', 'proxy_address', 'shared'] as const).map((kind) => exitIpAlarmTitle({ kind })), ['Proxy does not proxy', 'Proxy does not proxy', 'Shared exit IP']);
  assert.match(exitIpAlarmText(alarm({ kind: 'shared', others: [{ proxyId: 2, name: 'b' }, { proxyId: 3, name: 'c' }] })), /shares its exit IP 198\.51\.100\.1 with b, c/);
});

test('one banner per proxy and kind, newest first, at most five', () => {
  let shown: ExitIpAlarm[] = [];
  shown = withExitIpAlarm(shown, alarm({}));
  shown = withExitIpAlarm(shown, alarm({ kind: 'shared', others: [{ proxyId: 2, name: 'b' }] }));
  shown = withExitIpAlarm(shown, alarm({ exitIp: '198.51.100.2' }));
  assert.deepEqual(shown.map((a) => [a.kind, a.exitIp]), [['gateway_address', '198.51.100.2'], ['shared', '198.51.100.1']]);
  for (let id = 10; id < 20; id++) shown = withExitIpAlarm(shown, alarm({ proxyId: id }));
  assert.equal(shown.length, 5);
});
