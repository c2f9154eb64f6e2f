import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { TPROXY_NFT_MARK } from '../ruleset/render-tproxy.js';
import { AGENT_SOCKET_MARK, AGENT_SOCKET_NFT_MARK } from './agent-socket-mark.js';
import { LOCAL_MARK } from '../lan/lan-routing.js';
import { TPROXY_MARK } from '../lan/policy-routing-tproxy.js';

const GUARD = readFileSync(fileURLToPath(new URL('../../../../guard/pgw-guard.nft', import.meta.url)), 'utf8');

/** The rules of one chain of the guard file, comments and the hook line left out. */
function guardChain(name: string): string[] {
  const body = new RegExp(`\\tchain ${name} \\{\\n([\\s\\S]*?)\\n\\t\\}`).exec(GUARD)?.[1] ?? '';
  return body.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('type '));
}

describe('AGENT_SOCKET_MARK', () => {
  it('is a bit of its own: neither the DNAT mark nor the TPROXY mark', () => {
    assert.equal(AGENT_SOCKET_MARK & (LOCAL_MARK | TPROXY_MARK), 0);
    assert.equal(AGENT_SOCKET_NFT_MARK, '0x04000000');
  });

  it('the guard writes out the same marks as table inet pgw: a marked packet leaves only as a reply of an intercepted flow or to a local peer', () => {
    assert.deepEqual(guardChain('agent_sockets'), [
      `meta mark != ${AGENT_SOCKET_NFT_MARK} return`,
      `ct direction reply ct mark & ${TPROXY_NFT_MARK} == ${TPROXY_NFT_MARK} return`,
      'ct direction reply ct status dnat return',
      'ct direction reply oifname "lo" ip saddr 127.0.0.0/8 return',
      'drop',
    ]);
  });
});
