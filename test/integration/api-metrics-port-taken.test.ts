// The api's metrics port held by another process when it starts (any local user can bind a loopback
// port while the service restarts). The api exited on EADDRINUSE, restart after restart: a way to
// keep the console down. It serves now, and /metrics once the port is free.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ADMIN, ApiHarness } from './api-harness.js';

describe('api: its metrics port held by another process', { timeout: 60_000 }, () => {
  let squatter: net.Server;
  let port = 0;
  let h: ApiHarness | undefined;

  before(async () => {
    squatter = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    port = (squatter.address() as net.AddressInfo).port;
  });
  after(async () => {
    await h?.stop();
    if (squatter.listening) await new Promise((resolve) => squatter.close(resolve));
  });

  it('starts and serves the api; /metrics follows once the port is free', async () => {
    h = await ApiHarness.start({ PGW_API_METRICS_PORT: port });
    assert.ok((await h.login(ADMIN)).token, 'a login works while the metrics port is taken');
    assert.equal(h.api.metricsUrl, `http://127.0.0.1:${port}`);
    await new Promise((resolve) => squatter.close(resolve));
    const deadline = Date.now() + 10_000;
    let body = '';
    while (Date.now() < deadline) {
      body = await fetch(`${h.api.metricsUrl}/metrics`).then((r) => r.text(), () => '');
      if (body.includes('pgw_api_')) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.match(body, /^# TYPE pgw_api_/m, 'the metrics port served once free');
  });
});
