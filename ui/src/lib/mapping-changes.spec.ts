import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Mapping } from '../api/types.js';
import { mappingChanges } from './mapping-changes.js';

const opened = {
  id: 7, clientIp: '192.168.2.10', proxyId: 1, listenPort: 20010, enabled: true, description: 'rig', macAddress: null, failPolicy: 'closed', backupProxyIds: [2],
  rateDownKbit: null, rateUpKbit: 5000, quotaBytes: null, tags: ['kiosk'],
} as unknown as Mapping;
const asOpened = { clientIp: '192.168.2.10', proxyId: 1, listenPort: 20010, enabled: true, description: 'rig', macAddress: null, failPolicy: 'closed' as const, backupProxyIds: [2], rateDownKbit: null, rateUpKbit: 5000, quotaBytes: null, tags: ['kiosk'] };

test('an edit sends only what the operator changed: another admin\'s change to the rest since the dialog opened stays', () => {
  // Admin B disabled the mapping meanwhile; A changed only the description: enabled is not sent back as true.
  assert.deepEqual(mappingChanges(opened, { ...asOpened, description: 'rig 2' }), { description: 'rig 2' });
  assert.deepEqual(mappingChanges(opened, { ...asOpened, backupProxyIds: [3, 2], tags: ['kiosk', 'floor-2'], rateUpKbit: null }), { backupProxyIds: [3, 2], tags: ['kiosk', 'floor-2'], rateUpKbit: null });
  assert.deepEqual(mappingChanges(opened, asOpened), {});
});
