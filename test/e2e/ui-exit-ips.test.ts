// Exit-IP intelligence in the console (issue 17) in Debian's chromium against the real api, health
// service, Postgres, Redis and loopback dantes: the alarm banners ("Proxy does not proxy" for a proxy
// set to exit elsewhere that leaves from its own address; "Shared exit IP" for two proxies on one
// exit), an exit-IP change raising its banner, and the per-proxy exit-IP history in the Proxies
// table, each at desktop width and 375 px (screenshots in docs/screenshots).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type ApiHarness, type Session } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { startDante } from '../../lab/proxies.js';
import type { ProxyHandle } from '../../lab/types.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { horizontalOverflow, screenshotBoth } from './ui-browser.js';

describe('operator console: exit-IP alarms and history (chromium, real api and health)', { timeout: 300_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let api: Session;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  let other: ProxyHandle | undefined;
  const ids = { pool: 0, twin: 0 };
  const bearer = () => ({ auth: { bearer: api.token } });
  const addProxy = async (body: Record<string, unknown>) => {
    const res = await h.call('POST', '/api/v1/proxies', { ...bearer(), body });
    assert.equal(res.status, 201, res.text);
    return res.body.id as number;
  };
  const check = async (id: number) => {
    const res = await h.call('POST', `/api/v1/proxies/${id}/check`, bearer());
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.ok, true, res.text);
    return res.body as { exitIp: string };
  };
  const alarm = (page: Page, kind: string, proxyId: number) => page.locator(`[data-testid="exit-ip-alarm"][data-kind="${kind}"][data-proxy-id="${proxyId}"]`);

  before(async () => {
    ({ stack, h, api } = await startConsoleApi());
    ({ browser, admin } = await openAdminConsole(h.url));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await other?.stop().catch(() => undefined);
    await stack?.stop();
  });

  it('banners for a proxy that does not proxy (exit from its own address while set to differ) and for a shared exit IP', async () => {
    const { page } = admin;
    await page.goto('/#/dashboard');
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    // A pool gateway whose clients should leave from other addresses; this dante leaves from its own.
    ids.pool = await addProxy({ name: 'pool-gw', url: stack.dante.url, exitDiffers: true });
    const probed = Date.now();
    assert.equal((await check(ids.pool)).exitIp, stack.dante.ip);
    const own = alarm(page, 'proxy_address', ids.pool);
    await own.waitFor({ timeout: 10_000 });
    console.log(`"proxy does not proxy" banner shown ${Date.now() - probed} ms after the probe was asked for`);
    const ownText = await own.innerText();
    assert.match(ownText, /Proxy does not proxy/);
    assert.ok(ownText.includes(`Proxy pool-gw does not proxy: its traffic leaves from the proxy's own address ${stack.dante.ip}`), ownText);

    // A second proxy on the same dante (exit may be its own: no proxy_address alarm) shares the exit.
    ids.twin = await addProxy({ name: 'twin', url: stack.dante.url });
    await check(ids.twin);
    const shared = alarm(page, 'shared', ids.twin);
    await shared.waitFor({ timeout: 10_000 });
    assert.ok((await shared.innerText()).includes(`Proxy twin shares its exit IP ${stack.dante.ip} with pool-gw`));
    assert.equal(await alarm(page, 'proxy_address', ids.twin).count(), 0, 'exitDiffers is off for twin');

    // On every tab until dismissed; fits 375 px.
    await page.getByRole('link', { name: 'Proxy Mappings' }).click();
    await own.waitFor();
    assert.equal(await horizontalOverflow(page), 0, 'the alarm banners fit 375 px');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshotBoth(page, 'exit-ip-alarms');
    await own.getByRole('button', { name: 'Dismiss the exit IP alarm for pool-gw' }).click();
    await own.waitFor({ state: 'detached' });
    await shared.getByRole('button', { name: 'Dismiss the exit IP alarm for twin' }).click();
    await shared.waitFor({ state: 'detached' });
  });

  it('an exit-IP change raises its banner, and the history lists each address with first and last seen', async () => {
    const { page } = admin;
    // Re-pointing pool-gw at a dante on the next loopback address is what a rotating exit looks like.
    other = await startDante({ ip: stack.dante.ip.replace(/\.\d+$/, '.13'), port: 1080 });
    const res = await h.call('PATCH', `/api/v1/proxies/${ids.pool}`, { ...bearer(), body: { url: other.url } });
    assert.equal(res.status, 200, res.text);
    const moved = Date.now();
    assert.equal((await check(ids.pool)).exitIp, other.ip);
    const banner = page.getByTestId('exit-ip-banner');
    await banner.waitFor({ timeout: 10_000 });
    console.log(`exit-IP change banner shown ${Date.now() - moved} ms after the probe was asked for`);
    assert.ok((await banner.innerText()).includes(`${stack.dante.ip} → ${other.ip}`));

    await page.getByRole('tab', { name: 'Proxies' }).click();
    const row = page.locator('tr', { hasText: 'pool-gw' });
    const history = row.getByTestId('exit-ip-history');
    await history.locator('summary').click();
    const items = history.locator('li');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="exit-ip-history"][open] li').length === 2);
    const texts = await items.allInnerTexts();
    const expected = (await h.call('GET', `/api/v1/proxies/${ids.pool}/exit-ips`, bearer())).body.items as { exitIp: string; seenCount: number }[];
    assert.deepEqual(texts.map((t) => t.split(' ')[0]), expected.map((e) => e.exitIp), 'the api\'s order');
    assert.deepEqual(new Set(expected.map((e) => e.exitIp)), new Set([stack.dante.ip, other.ip]));
    for (const t of texts) assert.match(t, /first .* · last .* · \d+×/);
    assert.equal(await horizontalOverflow(page), 0, 'the history fits 375 px');
    await history.scrollIntoViewIfNeeded();
    await screenshotBoth(page, 'exit-ip-history');
  });
});
