import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApiError } from '../http/api-error.js';
import { endpointFromInput } from './proxy-input.js';

const fieldOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ApiError);
    return error.field;
  }
  assert.fail('expected an ApiError');
};

test('a URL gives every endpoint field, decoding credentials', () => {
  assert.deepEqual(endpointFromInput({ url: 'socks5://us%40r:p%3Ass@proxy.example:1080' }, 'create'), {
    protocol: 'socks5', host: 'proxy.example', port: 1080, username: 'us@r', password: 'p:ss',
  });
  assert.deepEqual(endpointFromInput({ url: 'http://198.51.100.10:8888' }, 'update'), { protocol: 'http', host: '198.51.100.10', port: 8888, username: null, password: null });
});

test('fields are validated and errors name the field', () => {
  assert.deepEqual(endpointFromInput({ protocol: 'http', host: 'h1', port: 3128 }, 'create'), { protocol: 'http', host: 'h1', port: 3128 });
  assert.equal(fieldOf(() => endpointFromInput({ url: 'ftp://h:21' }, 'create')), 'url');
  assert.equal(fieldOf(() => endpointFromInput({ url: 'socks5://h' }, 'create')), 'url');
  assert.equal(fieldOf(() => endpointFromInput({ url: 'socks5://h:1', port: 2 }, 'create')), 'port');
  assert.equal(fieldOf(() => endpointFromInput({ protocol: 'http', port: 1 }, 'create')), 'host');
  assert.equal(fieldOf(() => endpointFromInput({ protocol: 'http', host: 'bad host;', port: 1 }, 'create')), 'host');
  assert.equal(fieldOf(() => endpointFromInput({ protocol: 'http', host: 'h', port: 1, password: 'x' }, 'create')), 'password');
});

test('an update keeps what it does not mention and can clear the password', () => {
  assert.deepEqual(endpointFromInput({ port: 1081 }, 'update'), { port: 1081 });
  assert.deepEqual(endpointFromInput({ password: null }, 'update'), { password: null });
});
