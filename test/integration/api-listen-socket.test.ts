// The api serves the listening socket systemd passes (pgw-api.socket holds the port across restarts,
// docs/DEPLOYMENT.md), and only where its configuration says: a socket bound elsewhere stops the
// start with both addresses named. Real loopback sockets, made as systemd makes them (bound and
// listening before the api runs).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { closeFd } from '@pgw/original-dst';
import { listenApi } from '../../services/api/src/http/listen-api.js';
import { loopbackListenFd } from '../support/loopback-listen-fd.js';

const ok = () => createServer((_, res) => res.end('api'));

async function get(port: number): Promise<string> {
  return (await (await fetch(`http://127.0.0.1:${port}/`)).text());
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(false)));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

describe('the api on a socket systemd passed', () => {
  it('serves the passed socket, bound at the configured address, and binds none of its own', async () => {
    const { fd, port } = loopbackListenFd(16);
    const server = ok();
    await listenApi(server, { PGW_API_HOST: '127.0.0.1', PGW_API_PORT: port }, [fd]);
    try {
      assert.equal(await get(port), 'api');
    } finally {
      server.close();
    }
  });

  it('refuses a socket bound elsewhere than PGW_API_HOST:PGW_API_PORT, naming both, and serves nothing', async () => {
    const { fd, port } = loopbackListenFd(16);
    const server = ok();
    await assert.rejects(
      listenApi(server, { PGW_API_HOST: '127.0.0.1', PGW_API_PORT: port === 65535 ? port - 1 : port + 1 }, [fd]),
      new RegExp(`bound to 127\\.0\\.0\\.1:${port}, PGW_API_HOST:PGW_API_PORT say 127\\.0\\.0\\.1:\\d+: make ListenStream= in pgw-api\\.socket`),
    );
    assert.equal(server.listening, false);
    assert.ok(await refused(port), 'the passed socket is closed, not served');
  });

  it('refuses more than one socket, binds its own when given none', async () => {
    const a = loopbackListenFd(16);
    const b = loopbackListenFd(16);
    try {
      await assert.rejects(listenApi(ok(), { PGW_API_HOST: '127.0.0.1', PGW_API_PORT: a.port }, [a.fd, b.fd]), /systemd passed 2 sockets \(LISTEN_FDS\); the api serves one/);
    } finally {
      closeFd(a.fd);
      closeFd(b.fd);
    }
    const server = ok();
    await listenApi(server, { PGW_API_HOST: '127.0.0.1', PGW_API_PORT: 0 }, []);
    try {
      const address = server.address();
      assert.ok(address !== null && typeof address === 'object');
      assert.equal(await get(address.port), 'api');
    } finally {
      server.close();
    }
  });
});
