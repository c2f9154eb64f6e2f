import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { API_TYPES_FILE, renderApiTypes } from '../../scripts/api-types.js';

test('schema.d.ts is what API_SPEC.yaml generates (else run: npm run generate -w @pgw/ui)', async () => {
  const committed = await readFile(API_TYPES_FILE, 'utf8');
  assert.equal(committed, await renderApiTypes(), 'ui/src/api/schema.d.ts is stale: run `npm run generate -w @pgw/ui` and commit it');
});
