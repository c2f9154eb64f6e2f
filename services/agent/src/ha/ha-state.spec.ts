import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveState, parseHaLine } from './ha-state.js';

test('the line the notify hook writes is read back: state, its time, priority and keepalived pid', () => {
  const line = parseHaLine('1764590000.123 pgw_lan MASTER 150 4242\n');
  assert.ok(!(line instanceof Error));
  assert.deepEqual(line, { state: 'MASTER', since: new Date(1764590000123), priority: 150, pid: 4242 });
});

test('anything else is refused with what is wrong, never guessed', () => {
  for (const bad of ['', '1764590000.123 pgw_lan LEADER 150 1', '1764590000.123 pgw_lan MASTER 150', 'x pgw_lan MASTER 150 1', '1764590000.123 pgw_lan MASTER 300 1', '1764590000.123 pgw lan MASTER 150 1', '1764590000.123 pgw_lan MASTER 150 1\nextra']) {
    assert.ok(parseHaLine(bad) instanceof Error, JSON.stringify(bad));
  }
});

test('a state whose keepalived is gone (killed: no hook ran) is STOP from when the agent noticed; STOP itself needs no keepalived', () => {
  const since = new Date(1_000);
  const noticed = new Date(5_000);
  assert.deepEqual(effectiveState({ state: 'MASTER', since, priority: 150, pid: 1 }, true, noticed), { state: 'MASTER', since });
  assert.deepEqual(effectiveState({ state: 'MASTER', since, priority: 150, pid: 1 }, false, noticed), { state: 'STOP', since: noticed });
  assert.deepEqual(effectiveState({ state: 'STOP', since, priority: 0, pid: 1 }, false, noticed), { state: 'STOP', since });
});
