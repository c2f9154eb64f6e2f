import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { disableIpv6 } from './lan-sysctl.js';

describe('disableIpv6 (flow 10’s backstop on the LAN interface)', () => {
  const roots: string[] = [];
  after(() => roots.forEach((r) => rmSync(r, { recursive: true, force: true })));
  /** A stand-in for /proc/sys: with net/ipv6/conf/<iface>/disable_ipv6 at `value`, or without IPv6 at all. */
  const procSys = (ipv6: { iface: string; value: string } | null) => {
    const root = mkdtempSync(join(tmpdir(), 'pgw-procsys-'));
    roots.push(root);
    mkdirSync(join(root, 'net/ipv4/conf/ens19'), { recursive: true });
    if (ipv6 !== null) {
      mkdirSync(join(root, 'net/ipv6/conf', ipv6.iface), { recursive: true });
      writeFileSync(join(root, 'net/ipv6/conf', ipv6.iface, 'disable_ipv6'), `${ipv6.value}\n`);
    }
    return root;
  };

  it('switches IPv6 off where it is on', async () => {
    const root = procSys({ iface: 'ens19', value: '0' });
    await disableIpv6('ens19', root);
    assert.equal(readFileSync(join(root, 'net/ipv6/conf/ens19/disable_ipv6'), 'utf8').trim(), '1');
  });

  it('a kernel booted with ipv6.disable=1 (no net/ipv6 at all): nothing to switch off, no error (failed before: ENOENT refused every LAN step)', async () => {
    await disableIpv6('ens19', procSys(null));
  });

  it('an interface missing while the kernel has IPv6 is an error', async () => {
    await assert.rejects(disableIpv6('ens19', procSys({ iface: 'eth0', value: '0' })), { code: 'ENOENT' });
  });
});
