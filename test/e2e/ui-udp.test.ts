// UDP in the console (issue 15) in Debian's chromium against the real api, health service,
// Postgres, Redis, a loopback dante and tinyproxy: the Proxies table shows what the health probe
// learned of each proxy's UDP (dante answers UDP ASSOCIATE; tinyproxy speaks HTTP CONNECT), and in
// TPROXY mode the mappings table shows, per client, why its UDP is dropped, from the forwarder's
// status record (written here as the forwarder writes it; the forwarder's own report is asserted in
// tproxy-udp.test.ts); in DNAT mode it shows none. Desktop and 375 px (screenshots in docs/screenshots).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectRedis } from '@pgw/events';
import type { Redis } from 'ioredis';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { ApiHarness, Session } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { startTinyproxy } from '../../lab/proxies.js';
import type { ProxyHandle } from '../../lab/types.js';
import { writeNodeStatus } from '../support/node-status.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { DESKTOP, horizontalOverflow, PHONE, resizeTo, screenshotBoth } from './ui-browser.js';

const ON_DANTE = '192.168.2.10';
const ON_HTTP = '192.168.2.11';

describe('operator console: UDP support per proxy and UDP drops per client (chromium, real api and health)', { timeout: 180_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let api: Session;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  let tinyproxy: ProxyHandle;
  let redis: Redis;
  const ids = { dante: 0, tinyproxy: 0, danteMapping: 0, httpMapping: 0 };
  const bearer = () => ({ auth: { bearer: api.token } });
  const post = async (path: string, body: Record<string, unknown>) => {
    const res = await h.call('POST', path, { ...bearer(), body });
    assert.equal(res.status, 201, res.text);
    return res.body.id as number;
  };
  const setMode = async (interceptMode: 'dnat' | 'tproxy') => {
    const settings = (await h.call('GET', '/api/v1/settings', bearer())).body as Record<string, unknown>;
    const res = await h.call('PUT', '/api/v1/settings', { ...bearer(), body: { ...settings, interceptMode, dnsMode: 'proxy' } });
    assert.equal(res.status, 200, res.text);
  };
  /** The serving node's records as the agent (both clients applied) and the forwarder (the HTTP client's UDP dropped) write them. */
  const writeRecords = () =>
    writeNodeStatus(redis, {
      agent: { ok: true, at: new Date().toISOString(), durationMs: 4, appliedMappings: 2, blocked: {}, rejected: [], refusals: [], error: null },
      forwarder: {
        at: new Date().toISOString(),
        activeConnections: 0,
        perMapping: {},
        listeners: 2,
        refused: {},
        udp: { flows: 1, dropped: { [String(ids.httpMapping)]: { reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 3 } } },
      },
    });

  before(async () => {
    ({ stack, h, api } = await startConsoleApi());
    tinyproxy = await startTinyproxy({ ip: stack.dante.ip.replace(/\.\d+$/, '.13'), port: 8888 });
    redis = connectRedis(stack.redis.adminUrl);
    ({ browser, admin } = await openAdminConsole(h.url));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    redis?.disconnect();
    await tinyproxy?.stop().catch(() => undefined);
    await stack?.stop();
  });

  it('the Proxies table shows each proxy’s UDP support as the health probe learned it', async () => {
    const { page } = admin;
    ids.dante = await post('/api/v1/proxies', { name: 'dante-udp', url: stack.dante.url });
    ids.tinyproxy = await post('/api/v1/proxies', { name: 'tinyproxy-http', url: tinyproxy.url });
    // The health gate probes each proxy before its mapping is created: the UDP check runs beside it.
    await setMode('tproxy');
    ids.danteMapping = await post('/api/v1/mappings', { clientIp: ON_DANTE, proxyId: ids.dante, description: 'dante client' });
    ids.httpMapping = await post('/api/v1/mappings', { clientIp: ON_HTTP, proxyId: ids.tinyproxy, description: 'tinyproxy client' });
    const learned = async () => ((await h.call('GET', '/api/v1/proxies', bearer())).body.items as { name: string; udpSupport: string | null }[]).map((p) => [p.name, p.udpSupport]);
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && (await learned()).some(([, s]) => s === null); ) await page.waitForTimeout(200);
    assert.deepEqual(await learned(), [['dante-udp', 'supported'], ['tinyproxy-http', 'unsupported']], 'what the api reports');

    await page.goto('/#/mappings');
    await page.getByRole('tab', { name: 'Proxies' }).click();
    const udpOf = (name: string) => page.locator(`tr[data-proxy="${name}"]`).getByTestId('proxy-udp');
    // Each row as the api reported it above, once the table has caught up (it may first render a
    // list fetched before the probes' results; a CI run read tinyproxy's row as "learning" there).
    await udpOf('dante-udp').filter({ hasText: 'yes (UDP ASSOCIATE)' }).waitFor({ timeout: 15_000 });
    await udpOf('tinyproxy-http').filter({ hasText: 'no (HTTP proxy)' }).waitFor({ timeout: 15_000 });
    assert.equal((await udpOf('tinyproxy-http').innerText()).trim(), 'no (HTTP proxy)');
    assert.equal(await horizontalOverflow(page), 0, 'the proxies table fits 375 px');
    await screenshotBoth(page, 'proxies-udp');
  });

  it('TPROXY mode: the mappings table shows the HTTP client’s UDP dropped, with the reason and count; the dante client none', async () => {
    const { page } = admin;
    await writeRecords();
    const mapping = (await h.call('GET', `/api/v1/mappings/${ids.httpMapping}`, bearer())).body as { udpDropped: unknown };
    assert.deepEqual(mapping.udpDropped, { reason: 'proxy_without_udp', detail: 'http proxies carry no UDP', datagrams: 3 }, 'the api reports the forwarder’s record');

    await resizeTo(page, DESKTOP);
    await page.goto('/#/mappings');
    await page.reload();
    const row = (client: string) => page.locator(`tr[data-client="${client}"]`);
    const badge = row(ON_HTTP).getByTestId('udp-dropped');
    await badge.waitFor({ timeout: 15_000 });
    assert.equal((await badge.innerText()).trim(), 'UDP dropped: HTTP proxy carries no UDP (3)');
    assert.equal(await badge.getAttribute('title'), 'HTTP proxy carries no UDP: http proxies carry no UDP');
    assert.equal(await row(ON_DANTE).getByTestId('udp-dropped').count(), 0, 'nothing dropped for the dante client');
    assert.match((await row(ON_HTTP).getByTestId('client-badge').innerText()).trim(), /effective$/, 'its TCP is unaffected');
    // Rows are windowed by one fixed height (MappingsTable's ROW_HEIGHT: 46 px wide, 92 px narrow):
    // the badge adds none, nor do an admin's actions (two stacked lists made rows 57 px before).
    const height = async (client: string) => Math.round((await row(client).boundingBox())!.height);
    assert.equal(await height(ON_DANTE), 46, 'an admin row without the badge is as tall as the windowing assumes');
    assert.equal(await height(ON_HTTP), 46, 'the row with the badge too');

    await writeRecords();
    await resizeTo(page, PHONE);
    const narrow = row(ON_HTTP).getByTestId('udp-dropped');
    await narrow.filter({ hasText: 'UDP dropped (3)' }).waitFor({ timeout: 10_000 });
    assert.equal(await height(ON_DANTE), 92, 'on a phone: the narrow row height');
    assert.equal(await height(ON_HTTP), 92, 'on a phone, with the badge');
    assert.equal(await horizontalOverflow(page), 0, 'the mappings with a UDP drop fit 375 px');
    await screenshotBoth(page, 'mappings-udp-dropped');
  });

  it('DNAT mode: no UDP drop shown (the kernel drops all client UDP there), though the forwarder’s record still names one', async () => {
    const { page } = admin;
    await setMode('dnat');
    await writeRecords();
    const mapping = (await h.call('GET', `/api/v1/mappings/${ids.httpMapping}`, bearer())).body as { udpDropped: unknown };
    assert.equal(mapping.udpDropped, null);
    await page.reload();
    await page.locator(`tr[data-client="${ON_HTTP}"]`).getByTestId('client-badge').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByTestId('udp-dropped').count(), 0);
  });
});
