import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SETTINGS } from '@pgw/domain';
import { DomainError } from './domain-errors.js';
import { validClientIp, validListenPort, validMacAddress } from './mapping-rules.js';

const rejects = (fn: () => unknown, field: string, message: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof DomainError && e.kind === 'invalid' && e.field === field && message.test(e.message));

test('client IPs must be canonical host addresses inside the LAN', () => {
  assert.equal(validClientIp('192.168.2.10', DEFAULT_SETTINGS), '192.168.2.10');
  rejects(() => validClientIp('192.168.3.10', DEFAULT_SETTINGS), 'clientIp', /not inside the LAN 192\.168\.2\.0\/24/);
  rejects(() => validClientIp('192.168.2.010', DEFAULT_SETTINGS), 'clientIp', /IPv4/);
  rejects(() => validClientIp('192.168.2.0', DEFAULT_SETTINGS), 'clientIp', /network address/);
  rejects(() => validClientIp('192.168.2.255', DEFAULT_SETTINGS), 'clientIp', /broadcast address/);
  rejects(() => validClientIp('x', DEFAULT_SETTINGS, 'client_ip'), 'client_ip', /client_ip "x"/);
});

test('listen ports must be inside the forwarder range', () => {
  assert.equal(validListenPort(20000, DEFAULT_SETTINGS), 20000);
  assert.equal(validListenPort(29999, DEFAULT_SETTINGS), 29999);
  rejects(() => validListenPort(30000, DEFAULT_SETTINGS), 'listenPort', /outside the forwarder port range 20000-29999/);
});

test('a pinned MAC must be a unicast address; it is stored in lower-case colon form', () => {
  assert.equal(validMacAddress('52:54:00:AB:CD:0F'), '52:54:00:ab:cd:0f');
  rejects(() => validMacAddress('01:00:5e:00:00:01'), 'macAddress', /macAddress 01:00:5e:00:00:01 is a multicast address/);
  rejects(() => validMacAddress('00:00:00:00:00:00'), 'macAddress', /all-zero address/);
  rejects(() => validMacAddress('52:54:00', 'mac_address'), 'mac_address', /mac_address "52:54:00" must be a MAC address like/);
});
