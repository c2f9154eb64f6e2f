import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DesiredProxyWithCredentials, DesiredState } from '@pgw/db';
import { DEFAULT_SETTINGS, type Mapping, parseIpv4, parsePort } from '@pgw/domain';
import { buildRoutes, sameEndpoint } from './routes.js';

function proxy(id: number, extra: Partial<DesiredProxyWithCredentials> = {}): DesiredProxyWithCredentials {
  return { id, protocol: 'socks5', host: `198.51.100.${10 + id}`, port: parsePort(1080), status: 'up', username: null, passwordEnc: null, handshakeMode: 'auto', handshakeLearned: null, ...extra };
}

function mapping(id: number, proxyId: number, extra: Partial<Mapping> = {}): Mapping {
  return { id, clientIp: parseIpv4(`192.168.2.${10 + id}`), proxyId, listenPort: parsePort(20000 + id), enabled: true, description: '', ...extra };
}

function state(proxies: DesiredProxyWithCredentials[], mappings: Mapping[]): DesiredState<DesiredProxyWithCredentials> {
  return { settings: DEFAULT_SETTINGS, proxies, mappings, rejected: [] };
}

const decrypt = (sealed: string) => {
  if (!sealed.startsWith('sealed:')) throw new Error('cannot decrypt');
  return sealed.slice('sealed:'.length);
};

describe('buildRoutes', () => {
  it('routes an enabled mapping of an up proxy, with its decrypted credentials', () => {
    const { routes, problems } = buildRoutes(state([proxy(1, { username: 'alice', passwordEnc: 'sealed:s3cret' })], [mapping(1, 1)]), decrypt);
    assert.deepEqual(problems, []);
    assert.deepEqual(routes.get(1), {
      mappingId: 1,
      clientIp: '192.168.2.11',
      listenPort: 20001,
      proxyId: 1,
      proxy: { protocol: 'socks5', host: '198.51.100.11', port: 1080, username: 'alice', password: 's3cret' },
      blocked: null,
      privateDestinations: null,
      handshake: 'sequential',
    });
  });

  it('leaves username and password out of a proxy without credentials', () => {
    const { routes } = buildRoutes(state([proxy(1, { protocol: 'http', port: parsePort(8888) })], [mapping(1, 1)]), decrypt);
    assert.deepEqual(routes.get(1)?.proxy, { protocol: 'http', host: '198.51.100.11', port: 8888 });
  });

  it('fails closed: disabled mapping, down proxy, unknown proxy', () => {
    const { routes } = buildRoutes(
      state([proxy(1), proxy(2, { status: 'down' }), proxy(3, { status: 'unknown' })], [mapping(1, 1, { enabled: false }), mapping(2, 2), mapping(3, 3)]),
      decrypt,
    );
    assert.deepEqual([...routes.values()].map((r) => r.blocked), ['mapping_disabled', 'proxy_down', 'proxy_unknown']);
  });

  it('blocks a mapping whose proxy password cannot be decrypted, instead of dialing without it', () => {
    const { routes } = buildRoutes(state([proxy(1, { username: 'bob', passwordEnc: 'garbage' })], [mapping(1, 1)]), decrypt);
    assert.equal(routes.get(1)?.blocked, 'credentials_unreadable');
    assert.equal(routes.get(1)?.proxy, null);
  });

  it('blocks a mapping whose proxy row is missing', () => {
    const { routes } = buildRoutes(state([], [mapping(1, 42)]), decrypt);
    assert.equal(routes.get(1)?.blocked, 'proxy_missing');
  });

  it('gives no listener to a port outside the forwarder range, and reports it with the loader\'s rejections', () => {
    const input = { ...state([proxy(1)], [mapping(1, 1, { listenPort: parsePort(9102) })]), rejected: [{ mappingId: 5, reason: 'invalid client_ip' }] };
    const { routes, problems } = buildRoutes(input, decrypt);
    assert.equal(routes.size, 0);
    assert.deepEqual(problems, [
      { mappingId: 5, reason: 'invalid client_ip' },
      { mappingId: 1, reason: 'listen port 9102 is outside the forwarder port range 20000-29999' },
    ]);
  });

  it("carries the mapping's private-destination override (absent or null: the global setting)", () => {
    const { routes } = buildRoutes(state([proxy(1)], [mapping(1, 1, { privateDestinations: 'allow' }), mapping(2, 1, { privateDestinations: null }), mapping(3, 1)]), decrypt);
    assert.deepEqual([...routes.values()].map((r) => r.privateDestinations), ['allow', null, null]);
  });

  it('dials with the forced handshake, or what auto learned, and sequential until learned', () => {
    const proxies = [
      proxy(1),
      proxy(2, { handshakeLearned: 'pipelined' }),
      proxy(3, { handshakeMode: 'pipelined' }),
      proxy(4, { handshakeMode: 'sequential', handshakeLearned: 'pipelined' }),
    ];
    const { routes } = buildRoutes(state(proxies, [mapping(1, 1), mapping(2, 2), mapping(3, 3), mapping(4, 4)]), decrypt);
    assert.deepEqual([1, 2, 3, 4].map((id) => routes.get(id)?.handshake), ['sequential', 'pipelined', 'pipelined', 'sequential']);
  });

  it('decrypts each proxy once even when many mappings use it', () => {
    let calls = 0;
    const counting = (sealed: string) => (calls++, decrypt(sealed));
    buildRoutes(state([proxy(1, { username: 'a', passwordEnc: 'sealed:x' })], [mapping(1, 1), mapping(2, 1), mapping(3, 1)]), counting);
    assert.equal(calls, 1);
  });
});

describe('sameEndpoint', () => {
  it('compares every field, credentials included', () => {
    const a = { protocol: 'socks5' as const, host: 'h', port: parsePort(1), username: 'u', password: 'p' };
    assert.equal(sameEndpoint(a, { ...a }), true);
    assert.equal(sameEndpoint(a, { ...a, password: 'q' }), false);
    assert.equal(sameEndpoint(a, { ...a, port: parsePort(2) }), false);
    assert.equal(sameEndpoint(a, null), false);
    assert.equal(sameEndpoint(null, null), true);
  });
});
