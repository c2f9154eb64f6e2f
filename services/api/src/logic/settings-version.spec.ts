import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SETTINGS } from '@pgw/domain';
import { ifMatchNames, settingsVersion } from './settings-version.js';

describe('settingsVersion', () => {
  it('is the same for the same content in any key order, another for any change', () => {
    const reordered = Object.fromEntries(Object.entries(DEFAULT_SETTINGS).reverse()) as typeof DEFAULT_SETTINGS;
    assert.equal(settingsVersion(reordered), settingsVersion(DEFAULT_SETTINGS));
    assert.notEqual(settingsVersion({ ...DEFAULT_SETTINGS, strictOutput: !DEFAULT_SETTINGS.strictOutput }), settingsVersion(DEFAULT_SETTINGS));
    assert.match(settingsVersion(DEFAULT_SETTINGS), /^"[A-Za-z0-9_-]{22}"$/);
  });

  it('If-Match names it as a tag, a weak tag, in a list, or as *', () => {
    const v = settingsVersion(DEFAULT_SETTINGS);
    for (const header of [v, `W/${v}`, `"other", ${v}`, '*']) assert.equal(ifMatchNames(header, v), true, header);
    assert.equal(ifMatchNames('"other"', v), false);
  });
});
