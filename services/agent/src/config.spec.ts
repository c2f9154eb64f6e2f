import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '@pgw/config';
import { parseInterfaceName, parseIpv4 } from '@pgw/domain';
import { gatewayPolicy } from './policy/policy-fixtures.js';
import { loadAgentConfig, reservedPorts, underEnvironment, vrrpPeerOf } from './config.js';

/** A ConfigError whose one line starts with the variable's name. */
const refusing = (variable: string, why = '') => (e: unknown) => e instanceof ConfigError && e.message.startsWith(`${variable}: ${why}`);

const BASE = { PGW_DATABASE_URL: 'postgres://pgw_agent@localhost/pgw', PGW_REDIS_URL: 'redis://pgw-agent:secret@127.0.0.1:6379' };

describe('agent configuration: the HA peer', () => {
  it('takes the VRRP peer as its address and its link together, or neither, and requires it of a node of an HA pair', () => {
    const config = loadAgentConfig({ ...BASE, PGW_HA_PEER_IP: '198.51.100.2', PGW_HA_VRRP_IF: 'eth1' });
    assert.deepEqual([config.PGW_HA_PEER_IP, config.PGW_HA_VRRP_IF], ['198.51.100.2', 'eth1']);
    assert.deepEqual([loadAgentConfig(BASE).PGW_HA_PEER_IP, loadAgentConfig(BASE).PGW_HA_VRRP_IF], [undefined, undefined]);
    assert.throws(() => loadAgentConfig({ ...BASE, PGW_HA_PEER_IP: '198.51.100.2' }), refusing('PGW_HA_VRRP_IF', 'required when PGW_HA_PEER_IP is set'));
    assert.throws(() => loadAgentConfig({ ...BASE, PGW_HA_VRRP_IF: 'eth1' }), refusing('PGW_HA_PEER_IP', 'required when PGW_HA_VRRP_IF is set'));
    // A node of an HA pair (it reports keepalived's state) names its peer: no pair without the filter.
    assert.throws(() => loadAgentConfig({ ...BASE, PGW_HA_STATE_FILE: '/var/lib/pgw/ha-state' }), refusing('PGW_HA_PEER_IP', 'required when PGW_HA_STATE_FILE is set'));
    assert.equal(loadAgentConfig({ ...BASE, PGW_HA_STATE_FILE: '/var/lib/pgw/ha-state', PGW_HA_PEER_IP: '198.51.100.2', PGW_HA_VRRP_IF: 'eth1' }).PGW_HA_STATE_FILE, '/var/lib/pgw/ha-state');
  });

  it('refuses a peer address no host on a link has, and an interface name nft would not take, naming the variable', () => {
    for (const ip of ['0.0.0.0', '127.0.0.1', '224.0.0.18', '255.255.255.255', '198.51.100.2/32', 'peer.example']) {
      assert.throws(() => loadAgentConfig({ ...BASE, PGW_HA_PEER_IP: ip, PGW_HA_VRRP_IF: 'eth1' }), refusing('PGW_HA_PEER_IP'), ip);
    }
    for (const name of ['eth1"; flush ruleset', 'lo', 'a'.repeat(16)]) {
      assert.throws(() => loadAgentConfig({ ...BASE, PGW_HA_PEER_IP: '198.51.100.2', PGW_HA_VRRP_IF: name }), refusing('PGW_HA_VRRP_IF'), name);
    }
  });

  it('puts a saved policy under this start’s environment: its peer set, changed or removed since the file was written', () => {
    const withPeer = loadAgentConfig({ ...BASE, PGW_HA_PEER_IP: '198.51.100.3', PGW_HA_VRRP_IF: 'eth1' });
    const peer = vrrpPeerOf(withPeer)!;
    const saved = { ...gatewayPolicy([]), vrrpPeer: { interface: parseInterfaceName('eth0'), ip: parseIpv4('198.51.100.2') } };
    assert.deepEqual(underEnvironment(saved, withPeer).vrrpPeer, peer);
    assert.deepEqual(underEnvironment(gatewayPolicy([]), withPeer).vrrpPeer, peer);
    assert.equal('vrrpPeer' in underEnvironment(saved, loadAgentConfig(BASE)), false);
  });

  it('and its cap of tracked connections per client (flow 23): none in a file from before it, another one since', () => {
    const config = loadAgentConfig({ ...BASE, PGW_FLOWS_PER_CLIENT: '2048' });
    assert.equal(underEnvironment(gatewayPolicy([]), config).flowsPerClient, 2048, 'a file written before the cap existed');
    assert.equal(underEnvironment({ ...gatewayPolicy([]), flowsPerClient: 100 }, config).flowsPerClient, 2048, 'a cap changed in agent.env while Postgres was away');
    assert.equal(loadAgentConfig(BASE).PGW_FLOWS_PER_CLIENT, 4096);
    assert.throws(() => loadAgentConfig({ ...BASE, PGW_FLOWS_PER_CLIENT: '100000' }), /PGW_FLOWS_PER_CLIENT/);
  });

  const RATES = [
    { flow: 'new TCP connections per client (flow 25)', variable: 'PGW_TCP_NEW_PER_CLIENT', field: 'tcpNewPerSecond', byDefault: 1000 },
    { flow: 'unanswered UDP per client (flow 24)', variable: 'PGW_UDP_NEW_PER_CLIENT', field: 'udpNewPerSecond', byDefault: 200 },
  ] as const;
  for (const { flow, variable, field, byDefault } of RATES) {
    it(`and its rate of ${flow}: ${byDefault} by default, the environment's over a file's`, () => {
      const config = loadAgentConfig({ ...BASE, [variable]: '300' });
      assert.equal(underEnvironment(gatewayPolicy([]), config)[field], 300, 'a file written before the limit existed');
      assert.equal(underEnvironment({ ...gatewayPolicy([]), [field]: 50 }, config)[field], 300);
      assert.equal(loadAgentConfig(BASE)[variable], byDefault);
      for (const bad of ['0', '1.5', '100001', '10/second']) assert.throws(() => loadAgentConfig({ ...BASE, [variable]: bad }), new RegExp(variable), bad);
    });
  }
});

describe('agent configuration: the metrics port’s names', () => {
  it('PGW_METRICS_HOSTNAMES: none by default, names normalized; an address, a port or a wildcard is refused naming the variable', () => {
    assert.deepEqual(loadAgentConfig(BASE).PGW_METRICS_HOSTNAMES, []);
    assert.deepEqual(loadAgentConfig({ ...BASE, PGW_METRICS_HOSTNAMES: 'Gw1.Example.net., prometheus.lan' }).PGW_METRICS_HOSTNAMES, ['gw1.example.net', 'prometheus.lan']);
    for (const bad of ['127.0.0.1', 'gw1.example.net:9101', '*.example.net', 'localhost']) {
      assert.throws(() => loadAgentConfig({ ...BASE, PGW_METRICS_HOSTNAMES: bad }), refusing('PGW_METRICS_HOSTNAMES'), bad);
    }
  });
});

describe('agent configuration: the ports no mapping may take', () => {
  it('reserves the ports of pgw’s own Postgres and Redis (with their defaults), beside the services’ own', () => {
    // Not listened on while one of them restarts: a mapping given the port meanwhile had the agent
    // bind it, and every service's next connection (its credentials first) reached the forwarder.
    const reserved = reservedPorts(loadAgentConfig({ PGW_DATABASE_URL: 'postgres://pgw_agent@localhost:5433/pgw', PGW_REDIS_URL: 'redis://pgw-agent:secret@127.0.0.1:6380' }));
    assert.equal(reserved.get(5433), 'pgw’s Postgres (PGW_DATABASE_URL)');
    assert.equal(reserved.get(6380), 'pgw’s Redis (PGW_REDIS_URL)');
    const defaults = reservedPorts(loadAgentConfig({ PGW_DATABASE_URL: 'postgres://pgw_agent:secret@/pgw?host=%2Frun%2Fpostgresql', PGW_REDIS_URL: 'redis://127.0.0.1' }));
    assert.deepEqual([defaults.get(5432), defaults.get(6379)], ['pgw’s Postgres (PGW_DATABASE_URL)', 'pgw’s Redis (PGW_REDIS_URL)']);
    assert.equal(defaults.get(9101), 'pgw-agent metrics');
    assert.equal(reservedPorts(loadAgentConfig({ ...BASE, PGW_REDIS_URL: '/run/redis/redis.sock?username=pgw-agent&password=secret' })).get(6379), 'pgw’s Redis (PGW_REDIS_URL)');
    assert.equal(reservedPorts(loadAgentConfig({ PGW_DATABASE_URL: 'postgres://u@[::1]:5544/pgw', PGW_REDIS_URL: 'redis://:pw@[::1]:6390/0' })).get(6390), 'pgw’s Redis (PGW_REDIS_URL)');
  });
});
