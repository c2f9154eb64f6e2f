// DNS rebinding against the services' metrics ports (9101-9104 on 127.0.0.1): a web page whose name
// an attacker re-points at 127.0.0.1 (an operator's browser with an SSH tunnel to the gateway's
// metrics ports, as for a Prometheus on a laptop) reads the page of that name, so its script read
// /metrics: client addresses, proxy names, the agent's readiness. Each metrics port now answers only
// to IP addresses, localhost and the names the operator lists (PGW_METRICS_HOSTNAMES; the api's
// metrics port: PGW_API_HOSTNAMES), as the api itself does (logic in @pgw/config allowed-host.ts).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, describe, it } from 'node:test';
import { createMetricsRegistry, serveMetricsWhenFree } from '@pgw/metrics';
import { ApiHarness } from './api-harness.js';

/** GET `path` on 127.0.0.1:`port` with the given Host header: status and body. */
function get(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const ignored = { taken: () => undefined, bound: () => undefined };

describe('metrics ports answer only to IP addresses, localhost and the listed names (DNS rebinding)', { timeout: 60_000 }, () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('the agent, forwarder and health port: another name gets 421 naming PGW_METRICS_HOSTNAMES on every path; addresses, localhost and the listed name are served', async () => {
    const registry = createMetricsRegistry('forwarder');
    const port = await serveMetricsWhenFree(registry, '127.0.0.1', 0, ignored, { hosts: { names: new Set(['gw1.example.net']), variable: 'PGW_METRICS_HOSTNAMES' } });
    closers.push(() => port.close());
    const at = port.address()!.port;
    for (const path of ['/metrics', '/healthz', '/readyz', '/nothing']) {
      const refused = await get(at, path, `rebind.attacker.example:${at}`);
      assert.equal(refused.status, 421, path);
      assert.match(refused.body, /PGW_METRICS_HOSTNAMES/);
      assert.doesNotMatch(refused.body, /pgw_|process_/, `${path}: nothing of the metrics in a refusal`);
    }
    for (const host of [`127.0.0.1:${at}`, `localhost:${at}`, `[::1]:${at}`, `GW1.example.net.:${at}`]) {
      assert.equal((await get(at, '/metrics', host)).status, 200, host);
    }
    assert.equal((await get(at, '/metrics', `127.0.0.1.rebind.attacker.example:${at}`)).status, 421);
  });

  it('the api’s metrics port: 421 for a name the api was not given, 200 for its address', async () => {
    const h = await ApiHarness.start();
    closers.push(() => h.stop());
    const at = Number(new URL(h.api.metricsUrl).port);
    const refused = await get(at, '/metrics', `rebind.attacker.example:${at}`);
    assert.equal(refused.status, 421);
    assert.match(refused.body, /PGW_API_HOSTNAMES/);
    const served = await get(at, '/metrics', `127.0.0.1:${at}`);
    assert.equal(served.status, 200);
    assert.match(served.body, /^# TYPE pgw_api_/m);
  });
});
