import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addTags, MAPPING_TAG, MAX_MAPPING_TAGS, mappingTagSchema, removeTags } from './mapping-tags.js';

test('one spelling per tag: lower case, digits, ".", "_", "-", 1-32 characters', () => {
  for (const ok of ['floor-2', 'kiosk', 'a', 'v1.2_b', 'x'.repeat(32)]) assert.ok(MAPPING_TAG.test(ok), ok);
  for (const bad of ['', 'Floor-2', 'floor 2', '-lead', '.lead', 'x'.repeat(33), 'ünï', 'a,b']) assert.equal(mappingTagSchema.safeParse(bad).success, false, bad);
});

test('adding keeps the first order and each tag once; more than the maximum is refused', () => {
  assert.deepEqual(addTags(['a', 'b'], ['b', 'c', 'c']), ['a', 'b', 'c']);
  const full = Array.from({ length: MAX_MAPPING_TAGS }, (_, i) => `t${i}`);
  assert.deepEqual(addTags(full, ['t0']), full, 'a tag already there is no addition');
  assert.equal(addTags(full, ['new']), null);
  assert.deepEqual(removeTags(['a', 'b', 'c'], ['b', 'x']), ['a', 'c']);
});
