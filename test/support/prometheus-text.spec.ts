import assert from 'node:assert/strict';
import { it } from 'node:test';
import { metricSamples, metricSum } from './prometheus-text.js';

const TEXT = `# HELP pgw_forwarder_failures_total Failed connections.
# TYPE pgw_forwarder_failures_total counter
pgw_forwarder_failures_total{reason="not_client"} 3
pgw_forwarder_failures_total{reason="connect_timeout",proxy="2"} 4
pgw_forwarder_failures_total_extra 9
pgw_agent_last_success_timestamp_seconds 1764715000.5
http_request_duration_seconds_bucket{le="+Inf",route="/api/v1/x",note="a \\"b\\" c"} 12
`;

it('reads labelled and unlabelled series, skipping comments and metrics that only share a prefix', () => {
  assert.deepEqual(metricSamples(TEXT, 'pgw_forwarder_failures_total'), [
    { labels: { reason: 'not_client' }, value: 3 },
    { labels: { reason: 'connect_timeout', proxy: '2' }, value: 4 },
  ]);
  assert.deepEqual(metricSamples(TEXT, 'pgw_agent_last_success_timestamp_seconds'), [{ labels: {}, value: 1764715000.5 }]);
});

it('unescapes label values', () => {
  assert.equal(metricSamples(TEXT, 'http_request_duration_seconds_bucket')[0]!.labels.note, 'a "b" c');
});

it('sums the series that carry the labels asked for; 0 for none', () => {
  assert.equal(metricSum(TEXT, 'pgw_forwarder_failures_total'), 7);
  assert.equal(metricSum(TEXT, 'pgw_forwarder_failures_total', { reason: 'not_client' }), 3);
  assert.equal(metricSum(TEXT, 'pgw_forwarder_failures_total', { reason: 'refused' }), 0);
  assert.equal(metricSum(TEXT, 'pgw_absent_total'), 0);
});
