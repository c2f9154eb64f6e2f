// Operator console v2 (issue 17) in Debian's chromium against the real api, health service, Postgres,
// Redis and loopback dantes (no lab namespaces needed): the audit search with its filters in the URL,
// cursor paging and a CSV export equal to the search, at desktop width and 375 px (screenshots in
// docs/screenshots); live following with the same filters (new matching entries appear without a
// reload, others do not); and the banner a proxy's exit-IP change raises, naming the proxy, old and new IP.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseCsv } from '@pgw/domain/csv';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type ApiHarness, type Session } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { startDante } from '../../lab/proxies.js';
import type { ProxyHandle } from '../../lab/types.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { horizontalOverflow, screenshotBoth } from './ui-browser.js';

describe('operator console: audit search and exit-IP banner (chromium, real api and health)', { timeout: 300_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let api: Session;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  let proxyId: number;
  let mappingId: number;
  const extraDantes: ProxyHandle[] = [];
  const bearer = () => ({ auth: { bearer: api.token } });
  const ids = (items: { id: string }[]) => items.map((r) => r.id);

  before(async () => {
    ({ stack, h, api } = await startConsoleApi());
    const proxy = await h.call('POST', '/api/v1/proxies', { ...bearer(), body: { name: 'rotating', url: stack.dante.url } });
    assert.equal(proxy.status, 201, proxy.text);
    proxyId = proxy.body.id;
    const mapping = await h.call('POST', '/api/v1/mappings', { ...bearer(), body: { clientIp: '192.168.2.10', proxyId, description: 'desk-a' } });
    assert.equal(mapping.status, 201, mapping.text);
    mappingId = mapping.body.id;
    assert.equal((await h.call('POST', '/api/v1/mappings', { ...bearer(), body: { clientIp: '192.168.2.100', proxyId, description: 'printer' } })).status, 201);
    // 60 edits of desk-a: more rows than one page of the console (50), so "Load more" has work.
    for (let i = 1; i <= 60; i++) {
      const edit = await h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...bearer(), body: { description: `desk-a rev ${i}` } });
      assert.equal(edit.status, 200, edit.text);
    }
    ({ browser, admin } = await openAdminConsole(h.url));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    for (const d of extraDantes) await d.stop().catch(() => undefined);
    await stack?.stop();
  });

  const shownIds = (page: Page) => page.locator('[data-testid="audit-rows"] tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id') ?? ''));

  it('searches the audit log with filters kept in the URL, pages with "Load more", and exports the same rows as CSV', async () => {
    const { page } = admin;
    // The dashboard's recent changes lead to the full search, scrolled into view.
    await page.getByTestId('all-changes').click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Audit log' }).evaluate((el) => el.getBoundingClientRect().top < innerHeight), true, 'the audit log is scrolled into view');
    await page.goto('/#/auth?q=desk-a&entityType=mapping');
    const panel = page.getByTestId('audit');
    await panel.getByRole('heading', { name: 'Audit log' }).waitFor();
    assert.equal(await panel.getByLabel('Search', { exact: true }).inputValue(), 'desk-a', 'filters read from the URL');
    const expected = (await h.call('GET', '/api/v1/audit?q=desk-a&entityType=mapping&limit=1000', bearer())).body.items as { id: string; at: string }[];
    assert.equal(expected.length, 61, 'the create and 60 edits name desk-a');

    // First page of 50 (the view was open unfiltered: wait for the filtered answer), then the rest after the cursor.
    await page.locator(`[data-testid="audit-rows"] tbody tr:first-child[data-id="${expected[0]!.id}"]`).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-rows"] tbody tr').length === 50);
    assert.deepEqual(await shownIds(page), ids(expected).slice(0, 50));
    await panel.getByTestId('audit-more').click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-rows"] tbody tr').length === 61);
    assert.deepEqual(await shownIds(page), ids(expected));
    assert.equal(await panel.getByTestId('audit-more').count(), 0, 'no "Load more" on the last page');
    // Dates with the day, not just a time.
    assert.match((await page.locator('[data-testid="audit-rows"] tbody tr time').first().innerText()).trim(), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);

    // Narrowing by action and free text: the URL follows, the rows are the api's.
    await panel.getByLabel('Action').selectOption('create');
    await page.waitForFunction(() => location.hash.includes('action=create'));
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-rows"] tbody tr').length === 1);
    await panel.getByLabel('Search', { exact: true }).fill('printer');
    await page.waitForFunction(() => location.hash.includes('q=printer'));
    await page.locator('[data-testid="audit-rows"] tbody tr', { hasText: 'mapping 192.168.2.100' }).waitFor();
    const printer = (await h.call('GET', '/api/v1/audit?q=printer&entityType=mapping&action=create', bearer())).body.items;
    assert.equal(printer.length, 1);
    assert.deepEqual(await shownIds(page), ids(printer));

    // A reload shows the same search.
    await page.reload();
    await page.locator('[data-testid="audit-rows"] tbody tr', { hasText: 'mapping 192.168.2.100' }).waitFor();
    assert.equal(await panel.getByLabel('Action').inputValue(), 'create');

    // Logins carry the source IP and the browser's user agent; a future time range shows nothing.
    await panel.getByRole('button', { name: 'Clear' }).click();
    await panel.getByLabel('Action').selectOption('login');
    await page.waitForFunction(() => {
      const actions = [...document.querySelectorAll('[data-testid="audit-rows"] tbody td[data-label="Action"]')].map((td) => td.textContent?.trim());
      return actions.length > 0 && actions.every((a) => a === 'login');
    });
    const browserLogin = page.locator('[data-testid="audit-rows"] tbody tr').first();
    assert.match(await browserLogin.locator('td[data-label="From"]').innerText(), /127\.0\.0\.1/);
    assert.match(await browserLogin.locator('.ua').innerText(), /Chrome\/\d+/, 'the newest login is the browser\'s');
    await panel.getByLabel('From').fill('2099-01-01T00:00');
    await panel.getByTestId('audit-empty').waitFor();
    await panel.getByLabel('From').fill('');

    // Export: the downloaded file holds exactly the rows of the same search.
    await panel.getByRole('button', { name: 'Clear' }).click();
    await panel.getByLabel('Search', { exact: true }).fill('desk-a');
    await page.waitForFunction(() => location.hash.includes('q=desk-a'));
    const all = (await h.call('GET', '/api/v1/audit?q=desk-a&limit=1000', bearer())).body.items;
    const [download] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('audit-export').click()]);
    assert.equal(download.suggestedFilename(), 'pgw-audit.csv');
    const rows = parseCsv(readFileSync((await download.path())!, 'utf8')).map((r) => r.fields);
    assert.deepEqual(rows[0]!.slice(0, 3), ['id', 'at', 'actor']);
    assert.deepEqual(rows.slice(1).map((r) => r[0]), ids(all));
    await panel.getByTestId('audit-notice').getByText(`Exported ${all.length} entries`).waitFor();

    assert.equal(await horizontalOverflow(page), 0, 'the audit view fits 375 px');
    // The screenshot: "who created what", a short mixed list (users, proxy, mappings), from the top of the page.
    await page.goto('/#/auth?action=create');
    await page.locator('[data-testid="audit-rows"] tbody tr', { hasText: 'proxy rotating' }).waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshotBoth(page, 'audit');
  });

  it('follows the log live with the same filters: a matching change appears on top without a reload, others do not', async () => {
    const { page } = admin;
    await page.goto('/#/auth?actor=alice&entityType=proxy');
    const panel = page.getByTestId('audit');
    await panel.getByRole('heading', { name: 'Audit log' }).waitFor();
    const expected = (await h.call('GET', '/api/v1/audit?actor=alice&entityType=proxy', bearer())).body.items as { id: string }[];
    await page.locator(`[data-testid="audit-rows"] tbody tr:first-child[data-id="${expected[0]!.id}"]`).waitFor();
    await panel.getByTestId('audit-live').check();
    // A mapping edit (another entity) and then a proxy rename (matching): only the rename is listed.
    const edit = await h.call('PATCH', `/api/v1/mappings/${mappingId}`, { ...bearer(), body: { description: 'desk-a live' } });
    assert.equal(edit.status, 200, edit.text);
    const written = Date.now();
    const rename = await h.call('PATCH', `/api/v1/proxies/${proxyId}`, { ...bearer(), body: { name: 'rotating-live' } });
    assert.equal(rename.status, 200, rename.text);
    const newest = (await h.call('GET', '/api/v1/audit?actor=alice&entityType=proxy&limit=1', bearer())).body.items[0] as { id: string };
    await page.locator(`[data-testid="audit-rows"] tbody tr:first-child[data-id="${newest.id}"][data-fresh="true"]`).waitFor({ timeout: 5_000 });
    console.log(`live audit entry shown ${Date.now() - written} ms after the rename`);
    assert.deepEqual(await shownIds(page), [newest.id, ...ids(expected)], 'the rename on top, the mapping edit not listed');
    assert.match(await page.locator('[data-testid="audit-rows"] tbody tr').first().innerText(), /rotating-live/);
    await panel.getByTestId('audit-live').uncheck();
    const back = await h.call('PATCH', `/api/v1/proxies/${proxyId}`, { ...bearer(), body: { name: 'rotating' } });
    assert.equal(back.status, 200, back.text);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.equal((await shownIds(page))[0], newest.id, 'not following once Live is off');
  });

  it('raises a dismissible banner naming the proxy, the old and the new exit IP when the exit IP changes', async () => {
    const { page } = admin;
    await page.goto('/#/dashboard');
    const before = (await h.call('GET', `/api/v1/proxies/${proxyId}`, bearer())).body;
    assert.equal(before.exitIp, stack.dante.ip, 'the first dante leaves from its own address');
    // A second dante on the next loopback address leaves from that address; re-pointing the proxy at it
    // is what an upstream that rotates its exit looks like to the health service.
    const other = await startDante({ ip: stack.dante.ip.replace(/\.\d+$/, '.13'), port: 1080 });
    extraDantes.push(other);
    const moved = Date.now();
    const res = await h.call('PATCH', `/api/v1/proxies/${proxyId}`, { ...bearer(), body: { url: other.url } });
    assert.equal(res.status, 200, res.text);
    const banner = page.getByTestId('exit-ip-banner');
    await banner.waitFor({ timeout: 10_000 });
    console.log(`exit-IP banner shown ${Date.now() - moved} ms after the proxy was re-pointed`);
    const text = await banner.innerText();
    assert.match(text, /Exit IP changed for proxy rotating/);
    assert.ok(text.includes(`${stack.dante.ip} → ${other.ip}`), text);
    assert.equal((await h.call('GET', `/api/v1/proxies/${proxyId}`, bearer())).body.exitIp, other.ip);

    // Shown on every tab until dismissed; it fits 375 px.
    await page.getByRole('link', { name: 'Proxy Mappings' }).click();
    await banner.waitFor();
    assert.equal(await horizontalOverflow(page), 0);
    await screenshotBoth(page, 'exit-ip-banner');
    await banner.getByRole('button', { name: 'Dismiss the exit IP notice for rotating' }).click();
    await banner.waitFor({ state: 'detached' });
  });
});
