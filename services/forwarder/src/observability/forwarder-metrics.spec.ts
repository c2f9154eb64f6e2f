import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ConnectionLimits } from '../tcp/connection-limits.js';
import type { Forwarder } from '../tcp/forwarder.js';
import { registerForwarderMetrics } from './forwarder-metrics.js';
import { ForwarderStats } from '../tcp/forwarder-stats.js';
import type { WarmPoolStats } from '../tcp/warm-pools.js';

const noListeners = { perMapping: () => new Map(), listenerCount: 0 } as unknown as Forwarder;

describe('forwarder metrics', () => {
  it('exposes the warm pools per proxy: idle connections and takes by outcome', async () => {
    const registry = new Registry();
    const pools = new Map<number, WarmPoolStats>([
      [7, { idle: 3, used: 12, stale: 1, setupMs: 42.5 }],
      [9, { idle: 0, used: 0, stale: 2, setupMs: null }],
    ]);
    registerForwarderMetrics(registry, new ForwarderStats(), new ConnectionLimits(100, 10), noListeners, { stats: () => pools });
    const text = await registry.metrics();
    assert.match(text, /^pgw_forwarder_warm_connections\{proxy="7"\} 3$/m);
    assert.match(text, /^pgw_forwarder_warm_connections\{proxy="9"\} 0$/m);
    assert.match(text, /^pgw_forwarder_warm_takes_total\{proxy="7",outcome="used"\} 12$/m);
    assert.match(text, /^pgw_forwarder_warm_takes_total\{proxy="7",outcome="stale"\} 1$/m);
    assert.match(text, /^pgw_forwarder_warm_takes_total\{proxy="9",outcome="stale"\} 2$/m);
    assert.match(text, /^pgw_forwarder_warm_setup_seconds\{proxy="7"\} 0\.0425$/m);
    assert.doesNotMatch(text, /^pgw_forwarder_warm_setup_seconds\{proxy="9"\}/m, 'no warm connection opened yet: no sample');
    // A proxy whose pool is gone (no mapping uses it) leaves no series behind.
    pools.delete(9);
    assert.doesNotMatch(await registry.metrics(), /proxy="9"/);
  });

  it('counts relays by where their bytes move', async () => {
    const registry = new Registry();
    const stats = new ForwarderStats();
    stats.relays.splice = 5;
    stats.relays.js = 2;
    registerForwarderMetrics(registry, stats, new ConnectionLimits(100, 10), noListeners, null);
    const text = await registry.metrics();
    assert.match(text, /^pgw_forwarder_relays_total\{relay="splice"\} 5$/m);
    assert.match(text, /^pgw_forwarder_relays_total\{relay="js"\} 2$/m);
  });

  it('has no warm series with the warm pool off', async () => {
    const registry = new Registry();
    registerForwarderMetrics(registry, new ForwarderStats(), new ConnectionLimits(100, 10), noListeners, null);
    assert.doesNotMatch(await registry.metrics(), /^pgw_forwarder_warm_(connections|takes_total)\{/m);
  });
  it('never counts bytes down while a closed listener\'s relays wait for their release', async () => {
    const registry = new Registry();
    const stats = new ForwarderStats();
    // One listener with a live relay that moved 100 bytes up and 40 down; then the mapping is
    // removed: the listener leaves the map at once, its relay's release (and its bytes in the
    // closed totals) follows a loop turn later.
    const listeners = new Map([[1, { activeConnections: 1, addLiveBytes: (totals: [number, number]) => ((totals[0] += 100), (totals[1] += 40)) }]]);
    const forwarder = { perMapping: () => listeners, listenerCount: 1 } as unknown as Forwarder;
    registerForwarderMetrics(registry, stats, new ConnectionLimits(100, 10), forwarder, null);
    const bytes = async () => [...(await registry.metrics()).matchAll(/^pgw_forwarder_bytes_total\{direction="(up|down)"\} (\d+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
    assert.deepEqual(await bytes(), ['up 100', 'down 40']);
    listeners.clear();
    assert.deepEqual(await bytes(), ['up 100', 'down 40'], 'a counter that goes down reads as a restart (rate() counts the whole total again)');
    stats.closedBytesUp = 150;
    stats.closedBytesDown = 40;
    assert.deepEqual(await bytes(), ['up 150', 'down 40']);
  });
});
