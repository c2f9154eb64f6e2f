import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ExitIpAlert, withExitIpAlert } from './exit-ip-alerts.js';

const alert = (proxyId: number, exitIp: string): ExitIpAlert => ({ type: 'proxy.exit_ip_changed', proxyId, name: `p${proxyId}`, previous: '203.0.113.1', exitIp, at: '' });

test('one banner per proxy, the newest first; a later change of the same proxy replaces its banner', () => {
  let alerts = withExitIpAlert([], alert(1, '203.0.113.2'));
  alerts = withExitIpAlert(alerts, alert(2, '203.0.113.3'));
  alerts = withExitIpAlert(alerts, alert(1, '203.0.113.4'));
  assert.deepEqual(alerts.map((a) => [a.proxyId, a.exitIp]), [[1, '203.0.113.4'], [2, '203.0.113.3']]);
});

test('at most five banners at once', () => {
  let alerts: ExitIpAlert[] = [];
  for (let id = 1; id <= 8; id++) alerts = withExitIpAlert(alerts, alert(id, '203.0.113.9'));
  assert.deepEqual(alerts.map((a) => a.proxyId), [8, 7, 6, 5, 4]);
});
