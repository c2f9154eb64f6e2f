import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWarmTakes } from './warm-takes.js';

describe('parseWarmTakes', () => {
  it('reads used and stale per proxy and ignores every other series', () => {
    const text = [
      '# HELP pgw_forwarder_warm_takes_total Warm connections taken for a client',
      '# TYPE pgw_forwarder_warm_takes_total counter',
      'pgw_forwarder_warm_takes_total{proxy="3",outcome="used"} 17',
      'pgw_forwarder_warm_takes_total{proxy="3",outcome="stale"} 2',
      'pgw_forwarder_warm_takes_total{proxy="5",outcome="used"} 0',
      'pgw_forwarder_warm_connections{proxy="3"} 1',
      'pgw_forwarder_warm_takes_total{proxy="x",outcome="used"} 4',
    ].join('\n');
    assert.deepEqual([...parseWarmTakes(text)], [
      [3, { used: 17, stale: 2 }],
      [5, { used: 0, stale: 0 }],
    ]);
  });

  it('is empty without the counter (pool off)', () => {
    assert.equal(parseWarmTakes('pgw_forwarder_active_connections{mapping="1"} 0\n').size, 0);
  });
});
