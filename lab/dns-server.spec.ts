import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { type AddressInfo, createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { answer, parseQuery, startDnsServer } from './dns-server.js';

/** A query for name/type as a resolver sends it (RD set). */
function query(name: string, type: number, id = 0x1234): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([head, ...labels, Buffer.from([0, type >> 8, type & 0xff, 0, 1])]);
}

describe('lab dns-server', () => {
  it('answers whoami.pgw.test TXT with the source address, id and question echoed', () => {
    const reply = answer(query('WhoAmI.pgw.test', 16), '198.51.100.10');
    assert.equal(reply.readUInt16BE(0), 0x1234);
    assert.equal(reply.readUInt16BE(2) & 0x800f, 0x8000, 'QR set, NOERROR');
    assert.equal(reply.readUInt16BE(6), 1, 'one answer');
    assert.ok(reply.toString('latin1').endsWith('\x0d198.51.100.10'));
  });

  it('NXDOMAIN for other names, an empty answer for other types, FORMERR for garbage', () => {
    assert.equal(answer(query('example.com', 16), '1.2.3.4').readUInt16BE(2) & 0xf, 3);
    const a = answer(query('whoami.pgw.test', 1), '1.2.3.4');
    assert.equal(a.readUInt16BE(2) & 0xf, 0);
    assert.equal(a.readUInt16BE(6), 0);
    assert.equal(answer(Buffer.from([0xab, 0xcd, 0xff]), '1.2.3.4').readUInt16BE(2) & 0xf, 1);
    assert.equal(parseQuery(Buffer.from([0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 1])), null, 'a response is no query');
  });

  it('rejects, naming the port, when the port is taken (and leaves nothing bound)', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      await assert.rejects(startDnsServer('127.0.0.1', port), /EADDRINUSE/);
    } finally {
      taken.close();
    }
  });

  describe('over the wire (loopback)', () => {
    let server: { close(): void };
    let port = 0;
    before(async () => {
      // A port free for UDP and TCP both (the machine's own services hold some in this range).
      for (let tries = 0; ; tries++) {
        const candidate = 20000 + ((process.pid + tries) % 20000);
        try {
          server = await startDnsServer('127.0.0.1', candidate);
          port = candidate;
          return;
        } catch (error) {
          if (tries === 20) throw error;
        }
      }
    });
    after(() => server.close());

    it('a real resolver gets its own address back over UDP', async () => {
      const resolver = new Resolver({ timeout: 1000, tries: 2 });
      resolver.setServers([`127.0.0.1:${port}`]);
      assert.deepEqual(await resolver.resolveTxt('whoami.pgw.test'), [['127.0.0.1']]);
      await assert.rejects(resolver.resolveTxt('other.pgw.test'), { code: 'ENOTFOUND' });
    });
  });
});
