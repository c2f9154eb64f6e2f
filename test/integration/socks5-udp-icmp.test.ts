// A SOCKS5 UDP association whose relay answers a datagram with an ICMP error (its port closed for
// a moment: a relay restarting, a route flapping). The association's socket is connected to the
// relay, so Linux reports that ICMP as a read error (ECONNREFUSED); it ended the association, and
// with it the client's flow. Now a lost datagram, as on an unconnected socket: the association
// stays, and answers come again once the relay is back.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { after, describe, it } from 'node:test';
import { Socks5UdpAssociation } from '@pgw/dialers';
import type { ProxyEndpoint } from '@pgw/domain';
import { startScriptedSocks5, type ScriptedSocks5 } from '../support/scripted-socks5.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('SOCKS5 UDP association: an ICMP error from the relay is a lost datagram', { timeout: 30_000 }, () => {
  let proxy: ScriptedSocks5 | undefined;
  let relay: UdpSocket | undefined;
  after(() => {
    proxy?.close();
    relay?.close();
  });

  const startRelay = async (port: number): Promise<UdpSocket> => {
    const socket = createSocket('udp4');
    socket.on('message', (message, rinfo) => socket.send(message, rinfo.port, rinfo.address));
    await new Promise<void>((resolve) => socket.bind(port, '127.0.0.1', resolve));
    return socket;
  };

  it('keeps the association through a closed relay port, and relays once the relay is back', async () => {
    relay = await startRelay(0);
    const relayPort = relay.address().port;
    proxy = await startScriptedSocks5('127.0.0.1', Buffer.from([1, 127, 0, 0, 1]), () => relayPort);
    const answers: string[] = [];
    let closed: Error | null | undefined;
    const association = await Socks5UdpAssociation.open({ protocol: 'socks5', host: '127.0.0.1', port: proxy.port } as ProxyEndpoint, { timeoutMs: 2_000 }, {
      onMessage: (data) => answers.push(data.toString()),
      onClose: (error) => (closed = error),
    });
    try {
      await new Promise<void>((resolve) => relay!.close(resolve));
      relay = undefined;
      // Port unreachable: the kernel reports it on the association's connected socket.
      for (let i = 0; i < 3; i++) {
        association.send({ host: '203.0.113.53', port: 53 }, Buffer.from(`lost ${i}`));
        await sleep(50);
      }
      await sleep(200);
      assert.equal(closed, undefined, `the association ended: ${String(closed)}`);
      relay = await startRelay(relayPort);
      assert.equal(association.send({ host: '203.0.113.53', port: 53 }, Buffer.from('back')), 'sent');
      for (let i = 0; i < 40 && !answers.some((a) => a.endsWith('back')); i++) await sleep(25);
      assert.ok(answers.some((a) => a.endsWith('back')), `answers: ${answers.join(', ')}`);
    } finally {
      association.close();
    }
  });
});
