import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { macAddressSchema } from './mac.js';

const message = (value: string) => macAddressSchema.safeParse(value).error?.issues[0]?.message ?? '';

describe('macAddressSchema', () => {
  it('normalises colon, dash and dotted forms to lower-case colon form', () => {
    for (const input of ['52:54:00:AB:cd:0f', '52-54-00-ab-CD-0F', '5254.00ab.cd0f', ' 52:54:00:ab:cd:0f ']) {
      assert.equal(macAddressSchema.parse(input), '52:54:00:ab:cd:0f', input);
    }
  });

  it('refuses what is not a MAC address, naming the expected form', () => {
    for (const bad of ['', '52:54:00:ab:cd', '52:54:00:ab:cd:0f:11', '52:54:00:ab:cd:0g', '52:54-00:ab:cd:0f', '525400abcd0f', '52:54:00:ab:cd:0f }', '2:54:00:ab:cd:0f']) {
      assert.match(message(bad), /must be a MAC address like 52:54:00:12:34:56/, bad);
    }
  });

  it('refuses the broadcast, multicast and all-zero addresses with a reason: no single client sends from them', () => {
    assert.match(message('ff:ff:ff:ff:ff:ff'), /broadcast address/);
    assert.match(message('01:00:5e:00:00:01'), /multicast address/);
    assert.match(message('33:33:00:00:00:01'), /multicast address/);
    assert.match(message('00:00:00:00:00:00'), /all-zero address/);
  });

  it('accepts locally administered unicast addresses', () => {
    assert.equal(macAddressSchema.parse('02:5e:00:00:be:ef'), '02:5e:00:00:be:ef');
  });
});
