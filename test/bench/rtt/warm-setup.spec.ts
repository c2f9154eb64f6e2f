import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseWarmSetupMs } from './warm-setup.js';

describe('parseWarmSetupMs', () => {
  it('reads the smoothed setup per proxy in ms (whatever other labels) and ignores every other series', () => {
    const text = [
      '# TYPE pgw_forwarder_warm_setup_seconds gauge',
      'pgw_forwarder_warm_setup_seconds{proxy="3",service="forwarder"} 0.0525',
      'pgw_forwarder_warm_setup_seconds{proxy="x",service="forwarder"} 1',
      'pgw_forwarder_warm_takes_total{proxy="3",outcome="used"} 17',
    ].join('\n');
    assert.deepEqual([...parseWarmSetupMs(text)], [[3, 52.5]]);
  });
});
