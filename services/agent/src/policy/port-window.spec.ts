import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foreignListeners, type PortFacts, portRefusal, windowRefusal } from './port-window.js';

const FACTS: PortFacts = {
  localPortRange: { min: 32768, max: 60999 },
  reserved: new Map([
    [9101, 'pgw-agent metrics'],
    [9103, 'pgw-health metrics'],
    [25000, 'PGW_RESERVED_PORTS'],
  ]),
  foreignListeners: new Map([[21000, 'a listening socket of uid 1001, not the forwarder']]),
};
const WINDOW = { min: 20000, max: 29999 };

describe('windowRefusal: the forwarder port window itself', () => {
  it('accepts a window above 1024 and outside the local port range', () => {
    assert.equal(windowRefusal(WINDOW, FACTS), null);
    assert.equal(windowRefusal({ min: 1024, max: 32767 }, FACTS), null);
    assert.equal(windowRefusal({ min: 61000, max: 65535 }, FACTS), null);
  });

  it('refuses one reaching below 1024 (privileged ports: sshd, DNS, ...)', () => {
    assert.equal(windowRefusal({ min: 1, max: 65535 }, FACTS), 'forwarder port window 1-65535 reaches below 1024');
    assert.equal(windowRefusal({ min: 1023, max: 2000 }, FACTS), 'forwarder port window 1023-2000 reaches below 1024');
  });

  it('refuses one overlapping ip_local_port_range (the kernel hands those ports to outgoing connections)', () => {
    assert.equal(windowRefusal({ min: 30000, max: 32768 }, FACTS), 'forwarder port window 30000-32768 overlaps ip_local_port_range 32768-60999');
    assert.equal(windowRefusal({ min: 60999, max: 61000 }, FACTS), 'forwarder port window 60999-61000 overlaps ip_local_port_range 32768-60999');
    assert.equal(windowRefusal({ min: 40000, max: 40001 }, FACTS), 'forwarder port window 40000-40001 overlaps ip_local_port_range 32768-60999');
  });

  it('refuses an inverted window', () => {
    assert.equal(windowRefusal({ min: 3000, max: 2000 }, FACTS), 'forwarder port window 3000-2000 is empty');
  });
});

describe('portRefusal: one mapping port', () => {
  it('accepts a free port inside the window', () => {
    assert.equal(portRefusal(20000, WINDOW, FACTS), null);
    assert.equal(portRefusal(29999, WINDOW, FACTS), null);
  });

  it('names a pgw service or a reserved port', () => {
    assert.equal(portRefusal(9103, { min: 1, max: 65535 }, FACTS), 'port refused (9103 is pgw-health metrics)');
    assert.equal(portRefusal(9103, { min: 9000, max: 9999 }, FACTS), 'port refused (9103 is pgw-health metrics)');
    assert.equal(portRefusal(25000, WINDOW, FACTS), 'port refused (25000 is PGW_RESERVED_PORTS)');
  });

  it('refuses a port outside the window, below 1024 or inside the local port range, whatever the window says', () => {
    assert.equal(portRefusal(30000, WINDOW, FACTS), 'port refused (30000 is outside the forwarder window 20000-29999)');
    assert.equal(portRefusal(80, { min: 1, max: 65535 }, FACTS), 'port refused (80 is below 1024)');
    assert.equal(portRefusal(40000, { min: 1, max: 65535 }, FACTS), 'port refused (40000 is inside ip_local_port_range 32768-60999)');
  });

  it('refuses a port another user listens on', () => {
    assert.equal(portRefusal(21000, WINDOW, FACTS), 'port refused (21000 has a listening socket of uid 1001, not the forwarder)');
  });
});

describe('foreignListeners', () => {
  const listeners = [
    { port: 20000, address: '127.0.0.1', uid: 999, inode: '1' },
    { port: 20001, address: '127.0.0.1', uid: 0, inode: '2' },
    { port: 20002, address: '127.0.0.1', uid: 0, inode: '3' },
    { port: 22, address: '0.0.0.0', uid: 0, inode: '4' },
    { port: 20003, address: '::', uid: 1001, inode: '5' },
    { port: 20003, address: '127.0.0.1', uid: 999, inode: '6' },
  ];

  it('keeps sockets neither of the forwarder uid nor of root (the listener registry judges those)', () => {
    const foreign = foreignListeners(listeners, 999);
    assert.deepEqual([...foreign], [[20003, 'a listening socket of uid 1001, not the forwarder']]);
  });

  it('counts only sockets that 127.0.0.1:<port> reaches or that keep it from being bound', () => {
    // Any local user may listen on another loopback address, the LAN address or ::1 beside the
    // agent's 127.0.0.1:<port>: no client is redirected there, and counting it let that user have
    // any client blocked (port_refused) for as long as the socket stayed open.
    const beside = ['127.0.0.2', '192.168.2.1', '::1', '::ffff:127.0.0.2'].map((address, i) => ({ port: 21000 + i, address, uid: 65534, inode: `b${i}` }));
    assert.deepEqual([...foreignListeners(beside, 999)], []);
    const over = ['127.0.0.1', '0.0.0.0', '::', '::ffff:127.0.0.1', '::ffff:0.0.0.0'].map((address, i) => ({ port: 22000 + i, address, uid: 65534, inode: `o${i}` }));
    assert.deepEqual([...foreignListeners(over, 999)].map(([port]) => port), [22000, 22001, 22002, 22003, 22004]);
  });
});
