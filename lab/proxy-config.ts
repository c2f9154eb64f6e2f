/** Pure rendering of third-party proxy configurations (no I/O). */

export interface DanteConfigInput {
  ip: string;
  port: number;
  withAuth: boolean;
}

export function renderDanteConfig(c: DanteConfigInput): string {
  return [
    'logoutput: stderr',
    `internal: ${c.ip} port = ${c.port}`,
    // Outgoing connections use the proxy's own address, so the echo server can tell proxies apart.
    `external: ${c.ip}`,
    `clientmethod: none`,
    `socksmethod: ${c.withAuth ? 'username' : 'none'}`,
    // root reads /etc/shadow for the username method.
    `user.privileged: root`,
    `user.unprivileged: root`,
    `client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }`,
    `socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }`,
    '',
  ].join('\n');
}

export interface TinyproxyConfigInput {
  ip: string;
  port: number;
  auth?: { username: string; password: string };
}

const TINYPROXY_TOKEN = /^[A-Za-z0-9._~!$&'()*+,;=:@%-]+$/;

export function renderTinyproxyConfig(c: TinyproxyConfigInput): string {
  if (c.auth) {
    if (!TINYPROXY_TOKEN.test(c.auth.username)) throw new Error('tinyproxy username must be one token without spaces or quotes');
    if (!TINYPROXY_TOKEN.test(c.auth.password)) throw new Error('tinyproxy password must be one token without spaces or quotes');
  }
  return [
    'User nobody',
    'Group nogroup',
    `Port ${c.port}`,
    `Listen ${c.ip}`,
    // Source address of outgoing connections.
    `Bind ${c.ip}`,
    'Timeout 600',
    'MaxClients 1000',
    'Allow 0.0.0.0/0',
    // No LogFile/Syslog: logs go to stderr. No ConnectPort: CONNECT to any port (tinyproxy >= 1.11).
    'LogLevel Info',
    ...(c.auth ? [`BasicAuth ${c.auth.username} ${c.auth.password}`] : []),
    '',
  ].join('\n');
}
