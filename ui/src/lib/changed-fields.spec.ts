import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Mapping, Proxy } from '../api/types.js';
import { mappingChanges, proxyChanges } from './changed-fields.js';

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

test("a proxy's edit sends the fields changed, and the password only when the form sets or clears it", () => {
  const proxy = { id: 3, name: 'dante', protocol: 'socks5', host: '198.51.100.10', port: 1080, username: 'bob', handshakeMode: 'auto', exitDiffers: false } as unknown as Proxy;
  const asOpened = { name: 'dante', protocol: 'socks5' as const, host: '198.51.100.10', port: 1080, username: 'bob', handshakeMode: 'auto' as const, exitDiffers: false };
  // Another admin changed the user name and password since; this one renames: neither is sent back.
  assert.deepEqual(proxyChanges(proxy, { ...asOpened, name: 'dante-2' }), { name: 'dante-2' });
  assert.deepEqual(proxyChanges(proxy, { ...asOpened, password: 'new' }), { password: 'new' });
  assert.deepEqual(proxyChanges(proxy, { ...asOpened, username: null, password: null }), { username: null, password: null });
  assert.deepEqual(proxyChanges(proxy, asOpened), {});
});
