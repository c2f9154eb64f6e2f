import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWholeNumber } from './whole-number.js';

test('a whole number as typed (spaces around it allowed), or as the api gave it', () => {
  assert.equal(parseWholeNumber('1000'), 1000);
  assert.equal(parseWholeNumber(' 30 '), 30);
  assert.equal(parseWholeNumber(0), 0);
  assert.equal(parseWholeNumber(8080), 8080);
});

test('anything else is refused, not read as some other number: separators, units, hex, exponents, fractions, nothing', () => {
  // Number() and parseFloat() read these as 1, 30, 8080, 10000, 1.5, 0 and 0: saved, not what was typed.
  for (const typed of ['1,000', '1 000', '30s', '0x1F90', '1e4', '1.5', '', '  ', '-3', '+3', '1_000']) assert.equal(parseWholeNumber(typed), null, JSON.stringify(typed));
  for (const given of [1.5, Number.NaN, -1, null, undefined]) assert.equal(parseWholeNumber(given), null, String(given));
});
