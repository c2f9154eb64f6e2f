import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderDanteConfig, renderTinyproxyConfig } from './proxy-config.js';

describe('proxy configs', () => {
  it('dante listens and leaves on the same address, username method only with auth', () => {
    const open = renderDanteConfig({ ip: '198.51.100.10', port: 1080, withAuth: false });
    assert.match(open, /^internal: 198\.51\.100\.10 port = 1080$/m);
    assert.match(open, /^external: 198\.51\.100\.10$/m);
    assert.match(open, /^socksmethod: none$/m);
    assert.match(renderDanteConfig({ ip: '198.51.100.11', port: 1080, withAuth: true }), /^socksmethod: username$/m);
  });

  it('tinyproxy binds its address, has no ConnectPort and BasicAuth only with auth', () => {
    const open = renderTinyproxyConfig({ ip: '198.51.100.12', port: 3128 });
    assert.match(open, /^Listen 198\.51\.100\.12$/m);
    assert.match(open, /^Bind 198\.51\.100\.12$/m);
    assert.doesNotMatch(open, /ConnectPort|BasicAuth|LogFile|Syslog/);
    assert.match(renderTinyproxyConfig({ ip: '198.51.100.12', port: 3128, auth: { username: 'u', password: 'p' } }), /^BasicAuth u p$/m);
    assert.throws(() => renderTinyproxyConfig({ ip: '198.51.100.12', port: 3128, auth: { username: 'u', password: 'a b' } }), /password/);
  });
});
