import { MAPPING_TAG, MAX_MAPPING_TAGS } from '@pgw/domain/tags';

/** A mapping's tags in the form's one text field: separated by spaces or commas, as the CSV cell shows them with spaces. */
export function tagsToField(tags: readonly string[]): string {
  return tags.join(' ');
}

/**
 * The field's tags, each once in the order typed, or what is wrong with them in words (the api
 * checks again with the same rule, @pgw/domain/tags). Upper case is refused rather than folded:
 * "Floor-2" and "floor-2" would otherwise look like two groups in the CSV.
 */
export function parseTagsField(text: string): { tags: string[] } | { error: string } {
  const given = text.split(/[\s,]+/).filter((t) => t !== '');
  const bad = given.find((t) => !MAPPING_TAG.test(t));
  if (bad !== undefined) return { error: `"${bad}" is not a tag: use 1-32 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit` };
  const tags = [...new Set(given)];
  if (tags.length > MAX_MAPPING_TAGS) return { error: `at most ${MAX_MAPPING_TAGS} tags (${tags.length} given)` };
  return { tags };
}
