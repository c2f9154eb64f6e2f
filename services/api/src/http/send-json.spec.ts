import assert from 'node:assert/strict';
import { get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import express from 'express';
import { sendJson } from './send-json.js';

let serialisations = 0;
const answer = { items: [{ id: 1, clientIp: '192.168.2.10' }], total: 1, toJSON() {
  serialisations++;
  return { items: this.items, total: this.total };
} };
let url = '';
let close: () => void;

/**
 * One GET over its own connection (agent: false), closed after the answer. Not fetch(): its
 * keep-alive sockets outlive this file in the one process of test/unit/all-specs.test.ts, and a
 * later spec that mocks setTimeout (agent-listeners.spec.ts) then turns undici's clearTimeout into
 * a no-op, so its parser timer fires on a collected parser (nodejs/undici#4758, not in Node 20's
 * undici): "Cannot destructure property 'socket' of 'parser.deref(...)'" failed this file in CI.
 */
function fetchOnce(target: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; header(name: string): string | undefined }> {
  return new Promise((resolve, reject) => {
    get(target, { agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), header: (name) => res.headers[name] as string | undefined }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

before(async () => {
  const app = express();
  app.get('/cached', (req, res) => sendJson(req, res, answer));
  app.get('/plain', (_req, res) => void res.json({ items: answer.items, total: answer.total }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
after(() => close());

test('answers like res.json: same body, content type and ETag', async () => {
  const [cached, plain] = await Promise.all([fetchOnce(`${url}/cached`), fetchOnce(`${url}/plain`)]);
  assert.equal(cached.body, plain.body);
  assert.equal(cached.header('content-type'), plain.header('content-type'));
  assert.equal(cached.header('etag'), plain.header('etag'));
});

test('a large answer (sent as bytes) also answers like res.json: same body, length, content type and ETag', async () => {
  const large = { items: Array.from({ length: 200 }, (_, i) => ({ id: i, clientIp: `10.20.${i >> 8}.${i & 255}`, description: 'caf\u00e9 \u2013 d\u00e9j\u00e0 vu' })), total: 200 };
  const app = express();
  app.get('/cached', (req, res) => sendJson(req, res, large));
  app.get('/plain', (_req, res) => void res.json(large));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const [cached, plain] = await Promise.all([fetchOnce(`${base}/cached`), fetchOnce(`${base}/plain`)]);
    assert.ok(cached.body.length > 1000, 'over the size at which express turns a string into bytes');
    assert.equal(cached.body, plain.body);
    for (const header of ['content-type', 'content-length', 'etag']) assert.equal(cached.header(header), plain.header(header), header);
  } finally {
    server.close();
  }
});

test('serialises one answer object once however often it is sent, and still answers 304', async () => {
  serialisations = 0;
  const first = await fetchOnce(`${url}/cached`);
  for (let i = 0; i < 5; i++) assert.equal((await fetchOnce(`${url}/cached`)).status, 200);
  assert.equal(serialisations, 0, 'serialised by an earlier test already');
  assert.equal((await fetchOnce(`${url}/cached`, { 'if-none-match': first.header('etag')! })).status, 304);
});
