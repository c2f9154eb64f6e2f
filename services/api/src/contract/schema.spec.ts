import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { CONTRACT_SCHEMA_FILE, renderContractTypes } from '../../scripts/contract-types.js';

test('contract/schema.ts is what API_SPEC.yaml generates (else run: npm run generate -w @pgw/api)', async () => {
  const committed = await readFile(CONTRACT_SCHEMA_FILE, 'utf8');
  assert.equal(committed, await renderContractTypes(), 'services/api/src/contract/schema.ts is stale: run `npm run generate -w @pgw/api` and commit it');
});
