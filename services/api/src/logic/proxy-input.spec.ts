import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyHostPolicy } from '@pgw/domain';
import { DomainError } from './domain-errors.js';
import { endpointFromInput } from './proxy-input.js';

const HOSTS = new ProxyHostPolicy({ lanCidr: '192.168.2.0/24' });

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof DomainError);
    return error.field;
  }
  assert.fail('expected a DomainError');
};

test('a URL gives every endpoint field, decoding credentials', () => {
  assert.deepEqual(endpointFromInput({ url: 'socks5://us%40r:p%3Ass@proxy.example:1080' }, 'create', HOSTS), {
    protocol: 'socks5', host: 'proxy.example', port: 1080, username: 'us@r', password: 'p:ss',
  });
  assert.deepEqual(endpointFromInput({ url: 'http://198.51.100.10:8888' }, 'update', HOSTS), { protocol: 'http', host: '198.51.100.10', port: 8888, username: null, password: null });
});

test('fields are validated and errors name the field', () => {
  assert.deepEqual(endpointFromInput({ protocol: 'http', host: 'h1', port: 3128 }, 'create', HOSTS), { protocol: 'http', host: 'h1', port: 3128 });
  assert.equal(fieldOf(() => endpointFromInput({ url: 'ftp://h:21' }, 'create', HOSTS)), 'url');
  assert.equal(fieldOf(() => endpointFromInput({ url: 'socks5://h' }, 'create', HOSTS)), 'url');
  assert.equal(fieldOf(() => endpointFromInput({ url: 'socks5://h:1', port: 2 }, 'create', HOSTS)), 'port');
  assert.equal(fieldOf(() => endpointFromInput({ protocol: 'http', port: 1 }, 'create', HOSTS)), 'host');
  assert.equal(fieldOf(() => endpointFromInput({ protocol: 'http', host: 'bad host;', port: 1 }, 'create', HOSTS)), 'host');
  assert.equal(fieldOf(() => endpointFromInput({ protocol: 'http', host: 'h', port: 1, password: 'x' }, 'create', HOSTS)), 'password');
});

test('an update keeps what it does not mention and can clear the password', () => {
  assert.deepEqual(endpointFromInput({ port: 1081 }, 'update', HOSTS), { port: 1081 });
  assert.deepEqual(endpointFromInput({ password: null }, 'update', HOSTS), { password: null });
});

test('a proxy host on loopback, link-local or the LAN is refused, naming the field and the reason', () => {
  const refusal = (input: Parameters<typeof endpointFromInput>[0]) => {
    try {
      endpointFromInput(input, 'create', HOSTS);
    } catch (error) {
      assert.ok(error instanceof DomainError);
      return [error.field, error.message];
    }
    return assert.fail(`${JSON.stringify(input)} was accepted`);
  };
  assert.deepEqual(refusal({ protocol: 'socks5', host: '127.0.0.1', port: 1080 }), ['host', 'host: proxy host 127.0.0.1 is a loopback address (the gateway itself); proxies there are refused']);
  assert.deepEqual(refusal({ url: 'http://localhost:3128' }), ['url', 'url: proxy host localhost is a loopback address (the gateway itself); proxies there are refused']);
  assert.match(refusal({ protocol: 'http', host: '169.254.169.254', port: 80 })[1]!, /169\.254\.169\.254 is a link-local address/);
  assert.match(refusal({ protocol: 'http', host: '192.168.2.40', port: 3128 })[1]!, /192\.168\.2\.40 is inside the LAN prefix/);
  assert.match(refusal({ url: 'socks5://u:p@0.0.0.0:1080' })[1]!, /unspecified/);
  assert.deepEqual(endpointFromInput({ port: 1081 }, 'update', HOSTS), { port: 1081 }, 'an update without a host checks nothing');
  const allowing = new ProxyHostPolicy({ lanCidr: '192.168.2.0/24', allowedNetworks: ['127.63.0.0/16'] });
  assert.deepEqual(endpointFromInput({ protocol: 'socks5', host: '127.63.1.11', port: 1080 }, 'create', allowing), { protocol: 'socks5', host: '127.63.1.11', port: 1080 });
});
