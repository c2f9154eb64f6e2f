// A SOCKS5 UDP association whose proxy names its relay in IPv6 form (RFC 1928 ATYP 4), against a
// SOCKS5 server written here on loopback: a real UDP relay that echoes each datagram back with its
// header. A dual-stack server bound to :: names an IPv4 client's relay ::ffff:a.b.c.d, and an IPv6
// relay's 16 bytes have many spellings; the association must talk to the relay the kernel reports
// (rinfo.address) or every answer is dropped as a stranger's.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import net from 'node:net';
import { after, describe, it } from 'node:test';
import { Socks5UdpAssociation } from '@pgw/dialers';
import type { ProxyEndpoint } from '@pgw/domain';
import { startScriptedSocks5 } from '../support/scripted-socks5.js';

interface ScriptedProxy {
  readonly port: number;
  close(): void;
}

/** No-auth SOCKS5 that answers UDP ASSOCIATE with `relayAddress` (16 bytes, ATYP 4) and a relay socket on `host`. */
async function startProxy(host: string, relayAddress: Buffer): Promise<ScriptedProxy> {
  const relay: UdpSocket = createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  relay.on('message', (message, rinfo) => relay.send(message, rinfo.port, rinfo.address));
  await new Promise<void>((resolve) => relay.bind(0, host, resolve));
  const server = await startScriptedSocks5(host, Buffer.concat([Buffer.from([4]), relayAddress]), () => relay.address().port);
  return {
    port: server.port,
    close() {
      server.close();
      relay.close();
    },
  };
}

/** The first datagram the association hands back, or a rejection after 2 s. */
async function echoThrough(proxy: ProxyEndpoint): Promise<string> {
  let received: (text: string) => void = () => undefined;
  const answer = new Promise<string>((resolve) => (received = resolve));
  const association = await Socks5UdpAssociation.open(proxy, { timeoutMs: 2_000 }, { onMessage: (data) => received(data.toString()), onClose: () => undefined });
  try {
    association.send({ host: '203.0.113.53', port: 53 }, Buffer.from('ping'));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer through the relay named ${association.relay.address}`)), 2_000)));
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    association.close();
  }
}

const MAPPED_LOOPBACK = Buffer.from([...Array<number>(10).fill(0), 0xff, 0xff, 127, 0, 0, 1]);
const IPV6_LOOPBACK = Buffer.from([...Array<number>(15).fill(0), 1]);

describe('SOCKS5 UDP relay named in IPv6 form (scripted proxy on loopback)', { timeout: 30_000 }, () => {
  const proxies: ScriptedProxy[] = [];
  after(() => proxies.forEach((p) => p.close()));

  it('a dual-stack proxy reached over IPv4 names its relay ::ffff:127.0.0.1: the answers come back', async () => {
    const proxy = await startProxy('127.0.0.1', MAPPED_LOOPBACK);
    proxies.push(proxy);
    assert.match(await echoThrough({ protocol: 'socks5', host: '127.0.0.1', port: proxy.port } as ProxyEndpoint), /ping$/);
  });

  it('an IPv6 proxy names its relay with all 16 bytes (0:0:0:0:0:0:0:1): the answers come back', async () => {
    const proxy = await startProxy('::1', IPV6_LOOPBACK);
    proxies.push(proxy);
    assert.match(await echoThrough({ protocol: 'socks5', host: '::1', port: proxy.port } as ProxyEndpoint), /ping$/);
  });
});
