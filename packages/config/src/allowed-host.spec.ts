import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostNameProblem, hostOfAuthority, isAllowedHost } from './allowed-host.js';

describe('allowed-host', () => {
  const names = new Set(['console.example.net']);

  it('serves IP literals, localhost and the names given, case and one trailing dot aside', () => {
    for (const host of ['127.0.0.1', '192.168.2.1', '[::1]', '[fd00::1]', 'localhost', 'LOCALHOST.', 'console.example.net', 'Console.Example.NET.']) {
      assert.equal(isAllowedHost(host, names), true, host);
    }
  });

  it('refuses every other name, a missing Host, and look-alikes of the allowed ones', () => {
    for (const host of [undefined, '', 'rebind.attacker.example', 'console.example.net.attacker.example', 'localhost.attacker.example', 'sub.console.example.net', 'console.example.net..', '127.0.0.1.nip.io', '[::1', 'evil.localhost', '[127.0.0.1]', '[fe80::1%25eth0]', '::1', '127.1', '0x7f000001']) {
      assert.equal(isAllowedHost(host, names), false, String(host));
    }
  });

  it('names a problem with a configured name, or none', () => {
    assert.equal(hostNameProblem('console.example.net'), null);
    assert.equal(hostNameProblem('PGW.Example.'), null);
    assert.match(hostNameProblem('192.168.2.1')!, /IP address/);
    assert.match(hostNameProblem('[::1]')!, /IP address/);
    assert.match(hostNameProblem('localhost')!, /always served/);
    assert.match(hostNameProblem('pgw.example.net:8080')!, /no port/);
    assert.match(hostNameProblem('*.example.net')!, /no wildcard/);
    assert.match(hostNameProblem('-bad.example')!, /not a DNS name/);
    assert.match(hostNameProblem('')!, /not a DNS name/);
    assert.match(hostNameProblem('10.1')!, /numeric label/);
  });

  it('takes the host of an authority: the port off, IPv6 brackets kept', () => {
    assert.equal(hostOfAuthority('console.example.net:8080'), 'console.example.net');
    assert.equal(hostOfAuthority('[::1]:8080'), '[::1]');
    assert.equal(hostOfAuthority(' 127.0.0.1 '), '127.0.0.1');
    assert.equal(hostOfAuthority('::1'), '::1', 'an unbracketed IPv6 stays whole (and is refused)');
  });
});
