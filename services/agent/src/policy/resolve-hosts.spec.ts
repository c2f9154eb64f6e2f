import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProxyHostResolver } from './resolve-hosts.js';

const failure = (code: string) => Object.assign(new Error(`getaddrinfo ${code}`), { code });

describe('ProxyHostResolver', () => {
  it('keeps the last answer through a resolver\'s passing failure; a name that does not exist maps to none', async () => {
    const answers: (readonly { address: string }[] | Error)[] = [[{ address: '198.51.100.7' }], failure('EAI_AGAIN'), failure('ENOTFOUND')];
    const resolver = new ProxyHostResolver(async () => {
      const next = answers.shift()!;
      if (next instanceof Error) throw next;
      return next;
    });
    // Each run gets the last answer and starts the next lookup (the first waits for its own): a
    // run shows what the lookup the run before it started found.
    const run = async () => {
      const addresses = (await resolver.resolve(['proxy.example'])).get('proxy.example');
      await new Promise((resolve) => setImmediate(resolve));
      return addresses;
    };
    assert.deepEqual(await run(), ['198.51.100.7']);
    assert.deepEqual(await run(), ['198.51.100.7'], 'the answer, its next lookup (EAI_AGAIN) under way');
    // Before: emptied by EAI_AGAIN, and strict OUTPUT reset every connection to the proxy.
    assert.deepEqual(await run(), ['198.51.100.7'], 'after EAI_AGAIN');
    assert.deepEqual(await run(), [], 'after ENOTFOUND');
  });

  it('a name never answered maps to none when its first lookup fails, whatever the code', async () => {
    const resolver = new ProxyHostResolver(async () => {
      throw failure('EAI_AGAIN');
    });
    assert.deepEqual((await resolver.resolve(['proxy.example'])).get('proxy.example'), []);
  });
});
