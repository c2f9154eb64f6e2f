import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ConfigError } from '@pgw/config';
import { loadForwarderConfig } from './config.js';

const BASE = {
  PGW_DATABASE_URL: 'postgres://pgw_forwarder:pw@/pgw?host=/var/run/postgresql',
  PGW_REDIS_URL: '/run/redis/redis.sock',
  PGW_SECRET_KEY: randomBytes(32).toString('hex'),
};

describe('loadForwarderConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadForwarderConfig(BASE);
    assert.equal(config.listenerSocket, '/run/pgw/listeners.sock');
    assert.equal(config.metricsPort, 9102);
    assert.equal(config.maxConnections, 20_000);
    assert.equal(config.maxConnectionsPerMapping, 1024);
    assert.equal(config.connectTimeoutMs, 5_000);
    assert.equal(config.idleTimeoutMs, 300_000);
    assert.equal(config.upstreamFailureThreshold, 3);
    assert.equal(config.resyncIntervalMs, 2_000);
    assert.equal(config.drainTimeoutMs, 5_000);
    assert.deepEqual(config.secretKey, Buffer.from(BASE.PGW_SECRET_KEY, 'hex'));
    assert.deepEqual(config.warmPool, { maxAgeMs: 3_000, maxPerProxy: 4, demandWindowMs: 30_000 });
  });

  it('reads the warm pool switch and bounds', () => {
    assert.equal(loadForwarderConfig({ ...BASE, PGW_FORWARDER_WARM_POOL: 'false' }).warmPool, null);
    assert.deepEqual(loadForwarderConfig({ ...BASE, PGW_FORWARDER_WARM_MAX_AGE_MS: '1500', PGW_FORWARDER_WARM_MAX_PER_PROXY: '8' }).warmPool, { maxAgeMs: 1_500, maxPerProxy: 8, demandWindowMs: 30_000 });
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_FORWARDER_WARM_MAX_AGE_MS: '100' }), /PGW_FORWARDER_WARM_MAX_AGE_MS/);
  });

  it('reads every variable as given', () => {
    const config = loadForwarderConfig({
      ...BASE,
      PGW_LISTENER_SOCKET: '/run/pgw-lab/listeners.sock',
      PGW_MAX_CONNECTIONS: '100',
      PGW_MAX_CONNECTIONS_PER_MAPPING: '10',
      PGW_CONNECT_TIMEOUT_MS: '1500',
      PGW_IDLE_TIMEOUT_MS: '60000',
      PGW_UPSTREAM_FAILURE_THRESHOLD: '5',
      PGW_FORWARDER_RESYNC_INTERVAL_MS: '500',
      PGW_FORWARDER_DRAIN_TIMEOUT_MS: '100',
      PGW_FORWARDER_RELAY: 'splice',
      PGW_METRICS_PORT: '19102',
    });
    assert.deepEqual(
      [config.listenerSocket, config.maxConnections, config.maxConnectionsPerMapping, config.connectTimeoutMs, config.idleTimeoutMs],
      ['/run/pgw-lab/listeners.sock', 100, 10, 1500, 60000],
    );
    assert.deepEqual([config.upstreamFailureThreshold, config.resyncIntervalMs, config.drainTimeoutMs, config.metricsPort], [5, 500, 100, 19102]);
    assert.equal(config.relayMode, 'splice');
  });

  it('relays with splice by default, in JavaScript when asked, and names an unknown relay mode', () => {
    assert.equal(loadForwarderConfig(BASE).relayMode, 'splice');
    assert.equal(loadForwarderConfig({ ...BASE, PGW_FORWARDER_RELAY: 'js' }).relayMode, 'js');
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_FORWARDER_RELAY: 'sendfile' }), /PGW_FORWARDER_RELAY: .*"splice"|"js"/);
  });

  it('dials natively by default, with the JavaScript dialers when asked, and names an unknown dial mode', () => {
    assert.equal(loadForwarderConfig(BASE).dialMode, 'native');
    assert.equal(loadForwarderConfig({ ...BASE, PGW_FORWARDER_DIAL: 'js' }).dialMode, 'js');
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_FORWARDER_DIAL: 'c' }), /PGW_FORWARDER_DIAL: .*"native"|"js"/);
  });

  it('uses TCP Fast Open toward the proxies by default, not when turned off, and names a bad flag', () => {
    assert.equal(loadForwarderConfig(BASE).fastOpen, true);
    assert.equal(loadForwarderConfig({ ...BASE, PGW_FORWARDER_TCP_FASTOPEN: 'false' }).fastOpen, false);
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_FORWARDER_TCP_FASTOPEN: 'maybe' }), /PGW_FORWARDER_TCP_FASTOPEN/);
  });

  it('names a missing required variable', () => {
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_SECRET_KEY: '' }), (e: Error) => e instanceof ConfigError && /^PGW_SECRET_KEY: required/.test(e.message));
  });

  it('names a bad number', () => {
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_CONNECT_TIMEOUT_MS: 'soon' }), /PGW_CONNECT_TIMEOUT_MS: must be a number/);
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_MAX_CONNECTIONS: '0' }), /PGW_MAX_CONNECTIONS: must be at least 1/);
    // The stop deadline is derived from it, so a typo must stop the start, not fall back silently.
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_FORWARDER_DRAIN_TIMEOUT_MS: '5s' }), (e: Error) => /^PGW_FORWARDER_DRAIN_TIMEOUT_MS: must be a number/.test(e.message) && !e.message.includes('\n'));
  });

  it('refuses a per-mapping limit above the global one', () => {
    assert.throws(
      () => loadForwarderConfig({ ...BASE, PGW_MAX_CONNECTIONS: '10', PGW_MAX_CONNECTIONS_PER_MAPPING: '11' }),
      /PGW_MAX_CONNECTIONS_PER_MAPPING: must not be above PGW_MAX_CONNECTIONS/,
    );
  });

  it('refuses a listener socket path that is relative or too long for a Unix socket', () => {
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_LISTENER_SOCKET: 'run/listeners.sock' }), /PGW_LISTENER_SOCKET: must be an absolute path/);
    assert.throws(() => loadForwarderConfig({ ...BASE, PGW_LISTENER_SOCKET: `/${'a'.repeat(110)}` }), /PGW_LISTENER_SOCKET: must be at most 107 bytes/);
  });
});
