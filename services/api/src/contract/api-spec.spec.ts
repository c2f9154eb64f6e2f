import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { load as parseYaml } from 'js-yaml';
// The validator's own check of a spec, which app.ts switches off at start (validateApiSpec: false).
import { OpenAPISchemaValidator } from 'express-openapi-validator/dist/framework/openapi.schema.validator.js';
import { API_SPEC_PATH } from '../paths.js';

test('API_SPEC.yaml is a valid OpenAPI document (the check the api no longer runs at every start)', () => {
  type Document = Parameters<OpenAPISchemaValidator['validate']>[0];
  // Parsed as app.ts parses it: the check is of what the api loads.
  const spec = parseYaml(readFileSync(API_SPEC_PATH, 'utf8')) as Document;
  const validator = new OpenAPISchemaValidator({ version: spec.openapi, validateApiSpec: true });
  assert.deepEqual(validator.validate(spec).errors, []);
  // The check itself works: a broken document is refused.
  const broken = { ...spec, paths: { '/x': { get: { responses: 'none' } } } } as unknown as Document;
  assert.notDeepEqual(validator.validate(broken).errors, []);
});
