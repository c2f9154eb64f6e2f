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
  const [cached, plain] = await Promise.all([fetch(`${url}/cached`), fetch(`${url}/plain`)]);
  assert.equal(await cached.text(), await plain.text());
  assert.equal(cached.headers.get('content-type'), plain.headers.get('content-type'));
  assert.equal(cached.headers.get('etag'), plain.headers.get('etag'));
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
    const [cached, plain] = await Promise.all([fetch(`${base}/cached`), fetch(`${base}/plain`)]);
    const body = await cached.text();
    assert.ok(body.length > 1000, 'over the size at which express turns a string into bytes');
    assert.equal(body, await plain.text());
    for (const header of ['content-type', 'content-length', 'etag']) assert.equal(cached.headers.get(header), plain.headers.get(header), header);
  } finally {
    server.close();
  }
});

test('serialises one answer object once however often it is sent, and still answers 304', async () => {
  serialisations = 0;
  const first = await fetch(`${url}/cached`);
  for (let i = 0; i < 5; i++) assert.equal((await fetch(`${url}/cached`)).status, 200);
  assert.equal(serialisations, 0, 'serialised by an earlier test already');
  // Through node:http: fetch adds Cache-Control: no-cache to a request with If-None-Match (as browsers' fetch does).
  const status = await new Promise<number | undefined>((resolve, reject) => {
    get(`${url}/cached`, { headers: { 'if-none-match': first.headers.get('etag')! } }, (res) => (res.resume(), resolve(res.statusCode))).on('error', reject);
  });
  assert.equal(status, 304);
});
