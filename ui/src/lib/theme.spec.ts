import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextThemeChoice, parseThemeChoice } from './theme.js';

test('theme choice cycles system -> light -> dark -> system', () => {
  assert.equal(nextThemeChoice('system'), 'light');
  assert.equal(nextThemeChoice('light'), 'dark');
  assert.equal(nextThemeChoice('dark'), 'system');
});

test('an unknown stored theme falls back to system', () => {
  assert.equal(parseThemeChoice('dark'), 'dark');
  assert.equal(parseThemeChoice('neon'), 'system');
  assert.equal(parseThemeChoice(null), 'system');
});
