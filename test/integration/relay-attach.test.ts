// The forwarder's Relay (services/forwarder/src/tcp/relay.ts) where its client side cannot become a
// stream, against a real loopback TCP connection as the upstream: the relay ends, its slot is
// released once, and the upstream connection (a tunnel already open at the proxy) is closed with it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Relay, type RelayOwner } from '../../services/forwarder/src/tcp/relay.js';

const dir = mkdtempSync(join(tmpdir(), 'pgw-relay-attach-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('Relay.attach where the client descriptor cannot become a net.Socket', () => {
  it('closes the upstream connection and releases the relay once', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const accepted = once(server, 'connection') as Promise<[net.Socket]>;
      const upstream = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
      await once(upstream, 'connect');
      const [proxySide] = await accepted;
      // Not a socket: net.Socket's constructor refuses it (ERR_INVALID_FD_TYPE), as it would an accepted socket gone wrong.
      const notASocket = openSync(join(dir, 'file'), 'w');
      let released = 0;
      const owner: RelayOwner = { relayStarted: () => undefined, relayReleased: () => void released++ };
      const relay = new Relay(notASocket, owner);
      const proxySaw = once(proxySide, 'close');
      relay.attach(upstream, 5_000, 'js');
      assert.equal(released, 1, 'the relay is released (its slot with it)');
      assert.equal(upstream.destroyed, true, 'the upstream connection is closed, not left open at the proxy');
      await proxySaw;
      assert.throws(() => closeSync(notASocket), /EBADF/, 'the client descriptor was closed by the relay');
    } finally {
      server.close();
    }
  });
});
