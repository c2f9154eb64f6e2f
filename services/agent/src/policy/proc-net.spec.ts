import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDefaultRouteInterfaces, parseInterfaces, parseListeners, parsePortRange } from './proc-net.js';

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:238F 00000000:0000 0A 00000000:00000000 00:00000000 00000000   105        0 6532 1 0000000042b80474 100 0 0 10 0
   1: 00000000:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 1202 1 00000000c85bbf36 100 0 0 10 0
   2: 0100007F:4E20 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000   999        0 8755 1 0000000004ea48c9 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5256 1 0000000018027599 100 0 0 10 0
`;

describe('parseListeners (/proc/net/tcp, tcp6)', () => {
  it('keeps LISTEN sockets only, with port, owner uid and inode', () => {
    assert.deepEqual(parseListeners(TCP + TCP6.split('\n').slice(1).join('\n')), [
      { port: 9103, address: '127.0.0.1', uid: 105, inode: '6532' },
      { port: 20000, address: '0.0.0.0', uid: 999, inode: '1202' },
      { port: 22, address: '::', uid: 0, inode: '5256' },
    ]);
  });

  it('reads the local address: IPv4 in the byte order of the kernel, IPv6 as four such words', () => {
    const line = (local: string) => `   0: ${local} 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 77 1 0 100 0 0 10 0\n`;
    assert.deepEqual(
      ['0200007F:4E21', '0102A8C0:4E21', '00000000000000000000000001000000:4E21', '0000000000000000FFFF00000100007F:4E21', 'B80D0120000000000000000001000000:4E21'].map((local) => parseListeners(line(local))[0]!.address),
      ['127.0.0.2', '192.168.2.1', '::1', '::ffff:127.0.0.1', '2001:db8::1'],
    );
  });

  it('refuses a line it cannot read rather than overlooking a listener', () => {
    assert.throws(() => parseListeners(`${TCP}   3: zz:zz 00000000:0000 0A x\n`), /cannot read \/proc\/net\/tcp line/);
  });
});

describe('parseInterfaces (/proc/net/dev)', () => {
  it('lists the interface names of the namespace', () => {
    const text = 'Inter-|   Receive\n face |bytes    packets\n    lo:  754268    4909\n  ens19: 1 2\neth0.100:3 4\n';
    assert.deepEqual(parseInterfaces(text), ['lo', 'ens19', 'eth0.100']);
  });
});

describe('parsePortRange (ip_local_port_range)', () => {
  it('reads the two bounds', () => assert.deepEqual(parsePortRange('32768\t60999\n'), { min: 32768, max: 60999 }));
  it('refuses anything else', () => assert.throws(() => parsePortRange('32768'), /ip_local_port_range/));
});

describe('parseDefaultRouteInterfaces (/proc/net/route)', () => {
  it('names the interfaces of default routes only', () => {
    const text = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'ens19\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'wan2\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
      '',
    ].join('\n');
    assert.deepEqual(parseDefaultRouteInterfaces(text), ['eth0', 'wan2']);
  });
});
