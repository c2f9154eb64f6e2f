// Fail policy backup in the console (issue 17), Debian's chromium against the real services in a lab:
// the mapping form shows the policy and the ordered backup; with the primary dante killed, the
// client's state reads "effective (on backup <name>)" as the agent applied it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createLab, type Lab } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN_CREDENTIALS, Gateway, REPO_ROOT } from '../support/gateway.js';
import { horizontalOverflow, launchBrowser, logIn, newSession, screenshotBoth } from './ui-browser.js';

const CLIENT = '192.168.2.10';

describe('fail policy backup in the console (chromium, real agent, forwarder, health, dante, tinyproxy)', { timeout: 150_000 }, () => {
  let lab: Lab | undefined;
  let database: TestDatabase | undefined;
  let gateway: Gateway | undefined;
  let browser: Browser | undefined;
  let admin: { context: BrowserContext; page: Page };

  before(async () => {
    if (!existsSync(join(REPO_ROOT, 'ui/dist/index.html'))) throw new Error('ui/dist is not built: run `npm run build` first');
    lab = await createLab({ clients: 1, proxies: ['socks5', 'http'] });
    database = await createTestDatabase({ prefix: 'pgw_ui_backup' });
    gateway = new Gateway(lab, database);
    await sql`UPDATE settings SET health_interval_s = 5, fail_threshold = 1, check_url = ${lab.description.internet.echoUrl}`.execute(database.db);
    const primary = await gateway.seedProxy(lab.proxies[0]!, { name: 'dante-primary', status: 'up' });
    const backup = await gateway.seedProxy(lab.proxies[1]!, { name: 'tinyproxy-backup', status: 'up' });
    const mapping = await gateway.seedMapping(CLIENT, primary, 20010);
    await sql`UPDATE mappings SET fail_policy = 'backup', backup_proxy_ids = ${sql.raw(`'{${backup}}'`)}::integer[] WHERE id = ${mapping}`.execute(database.db);
    for (const service of ['agent', 'forwarder', 'health', 'api'] as const) await gateway.start(service);
    browser = await launchBrowser();
    admin = await newSession(browser, gateway.apiUrl);
    await logIn(admin.page, ADMIN_CREDENTIALS.username, ADMIN_CREDENTIALS.password);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await gateway?.destroy().catch(() => undefined);
    await lab?.destroy().catch(() => undefined);
    await database?.drop().catch(() => undefined);
  });

  it('the form shows the policy and its ordered backup', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Proxy Mappings' }).click();
    const row = page.locator(`tr[data-client="${CLIENT}"]`);
    const badgeText = async () => (await row.getByTestId('client-badge').first().innerText()).trim();
    let text = '';
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && !/effective$/.test(text); await page.waitForTimeout(200)) text = await badgeText().catch(() => '');
    assert.match(text, /(^|\s)effective$/, 'the client is effective on its own proxy first');
    await row.getByRole('button', { name: `Edit ${CLIENT}` }).click();
    assert.equal(await page.getByTestId('fail-policy').inputValue(), 'backup');
    assert.match(await page.getByTestId('backup-list').innerText(), /tinyproxy-backup/);
    await page.getByTestId('fail-policy').scrollIntoViewIfNeeded();
    await screenshotBoth(page, 'mapping-form-backup');
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  it('the primary killed: the state reads "effective (on backup tinyproxy-backup)"', async () => {
    const { page } = admin;
    const killedAt = Date.now();
    await lab!.proxies[0]!.kill();
    // No client traffic here: the periodic probe (5 s) finds the primary down.
    const badge = page.locator(`tr[data-client="${CLIENT}"]`).getByTestId('client-badge');
    await badge.filter({ hasText: 'effective (on backup tinyproxy-backup)' }).waitFor({ timeout: 20_000 });
    console.log(`# primary killed -> console shows the client on its backup: ${Date.now() - killedAt} ms`);
    assert.equal(await badge.getAttribute('data-tone'), 'warn');
    assert.equal(await horizontalOverflow(page), 0, 'the mappings with a client on its backup fit 375 px');
    await screenshotBoth(page, 'mappings-on-backup');
  });
});
