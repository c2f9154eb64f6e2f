import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTagsField, tagsToField } from './tags-field.js';

test('spaces or commas separate tags; each once, in the order typed; empty is none', () => {
  assert.deepEqual(parseTagsField(' floor-2, kiosk  floor-2 '), { tags: ['floor-2', 'kiosk'] });
  assert.deepEqual(parseTagsField(''), { tags: [] });
  assert.equal(tagsToField(['floor-2', 'kiosk']), 'floor-2 kiosk');
});

test('a tag outside the rule or more than 16 is named, not sent', () => {
  assert.match((parseTagsField('kiosk Floor-2') as { error: string }).error, /"Floor-2" is not a tag/);
  assert.match((parseTagsField(Array.from({ length: 17 }, (_, i) => `t${i}`).join(' ')) as { error: string }).error, /at most 16 tags \(17 given\)/);
});
