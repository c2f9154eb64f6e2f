// What a new operator found driving the console (issue 17), in Debian's chromium against the real
// api, health service, Postgres, Redis and a dante on loopback (no lab namespaces needed): lists that
// stay fresh, a Proxies tab that fits, notices that tell the truth in plain words, a revoked session
// that ends at the login page.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN, type ApiHarness, type Session, VIEWER } from '../integration/api-harness.js';
import { ApiStack } from '../integration/api-stack.js';
import { REPO_ROOT } from '../support/gateway.js';
import { DESKTOP, launchBrowser, logIn, newSession, PHONE } from './ui-browser.js';

/** The console polls what no notice announces (a probe that changes no status) every 10 s. */
const POLL_BOUND_MS = 15_000;

describe('operator console: defects found by a new operator (chromium, real api and health)', { timeout: 300_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let api: Session;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  const bearer = () => ({ auth: { bearer: api.token } });

  async function createProxy(body: Record<string, unknown>): Promise<number> {
    const res = await h.call('POST', '/api/v1/proxies', { ...bearer(), body });
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  }

  before(async () => {
    const uiDir = join(REPO_ROOT, 'ui/dist');
    if (!existsSync(join(uiDir, 'index.html'))) throw new Error('ui/dist is not built: run `npm run build -w @pgw/ui` first');
    stack = await ApiStack.start({ PGW_UI_DIR: uiDir });
    h = stack.harness;
    api = await h.login(ADMIN);
    browser = await launchBrowser();
    admin = await newSession(browser, h.url);
    await logIn(admin.page, ADMIN.username, ADMIN.password);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
  });

  it('keeps status, latency, "checked" and mapping counts fresh on the Proxies tab and the Dashboard; the delete dialog counts the mappings', async () => {
    const { page } = admin;
    await page.goto('/#/mappings?section=proxies');
    const id = await createProxy({ name: 'fresh-proxy', url: stack.dante.url });
    const row = page.locator('tr[data-proxy="fresh-proxy"]');
    await row.waitFor();

    // A probe that changes no status sends no notice: the row must still show it within the poll bound.
    const checked = async () => {
      const probe = await h.call('POST', `/api/v1/proxies/${id}/check`, bearer());
      assert.equal(probe.body.ok, true, probe.text);
      return (await h.call('GET', `/api/v1/proxies/${id}`, bearer())).body.lastCheckedAt as string;
    };
    await checked(); // the first probe may change the status (unknown -> up): that one is announced
    await row.locator('[data-testid="proxy-status"][data-tone="ok"]').waitFor();
    const quiet = await checked();
    await row.locator(`time[datetime="${quiet}"]`).waitFor({ timeout: POLL_BOUND_MS });

    // A mapping added elsewhere: the count and the delete dialog follow.
    const mapping = await h.call('POST', '/api/v1/mappings', { ...bearer(), body: { clientIp: '192.168.2.10', proxyId: id } });
    assert.equal(mapping.status, 201, mapping.text);
    await row.locator('td[data-label="Mappings"]', { hasText: /^\s*1\s*$/ }).waitFor({ timeout: 5_000 });
    await page.getByRole('button', { name: 'Delete fresh-proxy' }).click();
    const dialog = page.getByRole('dialog', { name: /Delete proxy fresh-proxy/ });
    await dialog.getByText('1 mapping uses this proxy').waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    await page.goto('/#/dashboard');
    const dash = page.locator('tr[data-proxy="fresh-proxy"]');
    await dash.waitFor();
    const later = await checked();
    await dash.locator(`time[datetime="${later}"]`).waitFor({ timeout: POLL_BOUND_MS });
  });
});
