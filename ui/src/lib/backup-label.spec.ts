// The state text of a client on a backup proxy (issue 17): "effective (on backup B)".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientStateLabel } from './labels.js';

test('a client on a backup says so, with the backup by name (its id when the name is unknown)', () => {
  assert.deepEqual(clientStateLabel({ state: 'effective', reason: 'on_backup', backupProxyId: 4 }, 'tinyproxy-2'), { tone: 'warn', text: 'effective (on backup tinyproxy-2)' });
  assert.deepEqual(clientStateLabel({ state: 'effective', reason: 'on_backup', backupProxyId: 4 }), { tone: 'warn', text: 'effective (on backup proxy 4)' });
});

test('on its own proxy: plain effective; blocked stays blocked', () => {
  assert.deepEqual(clientStateLabel({ state: 'effective', reason: null }, 'ignored'), { tone: 'ok', text: 'effective' });
  assert.deepEqual(clientStateLabel({ state: 'blocked', reason: 'proxy_down' }), { tone: 'bad', text: 'blocked: proxy down' });
});
