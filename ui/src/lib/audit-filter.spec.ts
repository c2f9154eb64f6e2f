import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditApiQuery, auditFormFromQuery, auditFormToQuery, shortUserAgent } from './audit-filter.js';

test('the URL round-trips the form; malformed values are dropped', () => {
  const form = auditFormFromQuery({ q: '192.168.2.10', actor: 'alice', entityType: 'planet', from: '2026-01-31T08:00', to: 'yesterday', extra: 'x' });
  assert.deepEqual(form, { q: '192.168.2.10', actor: 'alice', action: '', entityType: '', sourceIp: '', from: '2026-01-31T08:00', to: '' });
  assert.deepEqual(auditFormToQuery(form), { q: '192.168.2.10', actor: 'alice', from: '2026-01-31T08:00' });
  assert.deepEqual(auditFormFromQuery(auditFormToQuery(form)), form);
});

test('the api query trims text and sends local times as UTC instants', () => {
  const form = { ...auditFormFromQuery({}), q: '  dante ', entityType: 'proxy', from: '2026-01-31T08:00' };
  const query = auditApiQuery(form);
  assert.deepEqual([query.q, query.entityType, query.actor], ['dante', 'proxy', undefined]);
  assert.equal(query.from, new Date(2026, 0, 31, 8, 0).toISOString());
});

test('user agents are shortened to browser and platform', () => {
  const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.33 Safari/537.36';
  assert.equal(shortUserAgent(chrome), 'Chrome/131 · X11');
  assert.equal(shortUserAgent('curl/8.5.0'), 'curl/8');
  assert.equal(shortUserAgent(null), '');
});
