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

  it('finds nothing for a port no socket uses, and ignores the header and blank lines', () => {
    assert.deepEqual(uidsBoundToPort(TCP, 20003), []);
    assert.deepEqual(uidsBoundToPort('', 20000), []);
  });
});
