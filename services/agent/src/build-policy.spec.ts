import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredProxy, DesiredState } from '@pgw/db';
import { DEFAULT_SETTINGS, type Ipv4, type Mapping, parseIpv4, parsePort, type ProxyStatus } from '@pgw/domain';
import { buildGatewayPolicy } from './build-policy.js';

function proxy(id: number, status: ProxyStatus, host = `198.51.100.${10 + id}`): DesiredProxy {
  return { id, protocol: 'socks5', host, port: parsePort(1080), status };
}

function mapping(id: number, clientIp: string, proxyId: number, enabled = true): Mapping {
  return { id, clientIp: parseIpv4(clientIp), proxyId, listenPort: parsePort(20000 + id), enabled, description: 'desk "A"; } flush ruleset' };
}

function state(mappings: Mapping[], proxies: DesiredProxy[], strictOutput = false): DesiredState {
  return { settings: { ...DEFAULT_SETTINGS, strictOutput }, proxies, mappings, rejected: [] };
}

describe('buildGatewayPolicy', () => {
  it('gives every state its reason, failing closed (unknown and missing proxies are not up)', () => {
    const { policy } = buildGatewayPolicy(
      state(
        [mapping(1, '192.168.2.10', 1), mapping(2, '192.168.2.11', 2), mapping(3, '192.168.2.12', 3), mapping(4, '192.168.2.13', 1, false), mapping(5, '192.168.2.14', 99)],
        [proxy(1, 'up'), proxy(2, 'down'), proxy(3, 'unknown')],
      ),
      new Map(),
      [],
    );
    assert.deepEqual(
      policy.clients.map((c) => [c.ip, c.blocked]),
      [
        ['192.168.2.10', null],
        ['192.168.2.11', 'proxy_down'],
        ['192.168.2.12', 'proxy_unknown'],
        ['192.168.2.13', 'mapping_disabled'],
        ['192.168.2.14', 'proxy_unknown'],
      ],
    );
    assert.deepEqual(policy.clients[0], { mappingId: 1, proxyId: 1, ip: '192.168.2.10', port: 20001, blocked: null });
  });

  it('leaves out and reports a client outside the LAN, and rows the loader rejected', () => {
    const desired = { ...state([mapping(1, '10.9.9.9', 1), mapping(2, '192.168.2.10', 1)], [proxy(1, 'up')]), rejected: [{ mappingId: 7, reason: 'invalid client_ip' }] };
    const { policy, rejected } = buildGatewayPolicy(desired, new Map(), []);
    assert.deepEqual(policy.clients.map((c) => c.ip), ['192.168.2.10']);
    assert.deepEqual(rejected, [
      { mappingId: 7, reason: 'invalid client_ip' },
      { mappingId: 1, reason: 'client 10.9.9.9 is outside the LAN 192.168.2.0/24' },
    ]);
  });

  it('never gives one client two ports or two clients one port', () => {
    const twice = { ...mapping(2, '192.168.2.10', 1) };
    const samePort = { ...mapping(3, '192.168.2.11', 1), listenPort: parsePort(20001) };
    const { policy, rejected } = buildGatewayPolicy(state([mapping(1, '192.168.2.10', 1), twice, samePort], [proxy(1, 'up')]), new Map(), []);
    assert.equal(policy.clients.length, 1);
    assert.deepEqual(rejected.map((r) => r.mappingId), [2, 3]);
  });

  it('sorts clients by address so the script does not depend on row order', () => {
    const { policy } = buildGatewayPolicy(state([mapping(1, '192.168.2.100', 1), mapping(2, '192.168.2.9', 1)], [proxy(1, 'up')]), new Map(), []);
    assert.deepEqual(policy.clients.map((c) => c.ip), ['192.168.2.9', '192.168.2.100']);
  });

  it('strict OUTPUT off: no upstreams, no uids', () => {
    const { policy } = buildGatewayPolicy(state([], [proxy(1, 'up')]), new Map(), [999]);
    assert.equal(policy.strictOutput, null);
  });

  it('strict OUTPUT on: every proxy endpoint, resolved hosts, unresolved ones reported', () => {
    const resolved = new Map<string, Ipv4[]>([['proxy.example', [parseIpv4('203.0.113.50'), parseIpv4('203.0.113.51')]]]);
    const { policy, unresolvedProxies } = buildGatewayPolicy(
      state([], [proxy(1, 'down'), proxy(2, 'up', 'proxy.example'), proxy(3, 'up', 'gone.example')], true),
      resolved,
      [999, 998, 999],
    );
    assert.deepEqual(policy.strictOutput?.allowedUids, [998, 999]);
    assert.deepEqual(policy.strictOutput?.upstreams.map((u) => `${u.ip}:${u.port}`), ['198.51.100.11:1080', '203.0.113.50:1080', '203.0.113.51:1080']);
    assert.deepEqual(unresolvedProxies, [{ proxyId: 3, host: 'gone.example' }]);
  });
});
