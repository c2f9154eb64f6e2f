import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { uidsBoundToPort } from './listener-proc.js';

// Lines as the kernel prints them (trimmed to the columns read): 127.0.0.1:20000 LISTEN uid 0,
// 0.0.0.0:20001 LISTEN uid 65534, 127.0.0.1:20000 TIME_WAIT, a connection from port 20000.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41001 1 0000000000000000 100 0 0 10 0
   1: 00000000:4E21 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 41002 1 0000000000000000 100 0 0 10 0
   2: 0100007F:4E20 0A02A8C0:C350 06 00000000:00000000 03:00001234 00000000     0        0 0 3 0000000000000000
   3: 0100007F:4E20 0A02A8C0:C351 01 00000000:00000000 00:00000000 00000000     0        0 41003 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:4E22 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41004 1 0000000000000000 100 0 0 10 0
`;

describe('uidsBoundToPort', () => {
  it('lists the creator uid of every socket on the port but TIME_WAIT entries', () => {
    assert.deepEqual(uidsBoundToPort(TCP, 20000), [0, 0]);
    assert.deepEqual(uidsBoundToPort(TCP, 20001), [65534]);
  });

  it('reads tcp6 lines (a dual-stack [::]:port listener conflicts with 127.0.0.1:port)', () => {
    assert.deepEqual(uidsBoundToPort(TCP6, 20002), [1000]);
  });

  it('counts only sockets that can keep 127.0.0.1:port from the agent: on it or a wildcard, not on another address', () => {
    // uid 1000 listens on 127.0.0.2:20004, the LAN address 192.168.2.1:20004 and ::1:20004 (none
    // conflicts with the agent's 127.0.0.1:20004); uid 1001 on ::ffff:127.0.0.1:20005 and uid 1002
    // on ::ffff:0.0.0.0:20005 (both do).
    const v4 = `  sl  local_address rem_address   st
   0: 0200007F:4E24 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41005 1
   1: 0102A8C0:4E24 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41006 1
`;
    const v6 = `  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:4E24 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41007 1
   1: 0000000000000000FFFF00000100007F:4E25 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 41008 1
   2: 0000000000000000FFFF000000000000:4E25 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 41009 1
`;
    assert.deepEqual(uidsBoundToPort(v4, 20004), []);
    assert.deepEqual(uidsBoundToPort(v6, 20004), []);
    assert.deepEqual(uidsBoundToPort(v6, 20005), [1001, 1002]);
  });

  it('finds nothing for a port no socket uses, and ignores the header and blank lines', () => {
    assert.deepEqual(uidsBoundToPort(TCP, 20003), []);
    assert.deepEqual(uidsBoundToPort('', 20000), []);
  });
});
