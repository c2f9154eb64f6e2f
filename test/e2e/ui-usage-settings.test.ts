// The quota and accounting settings on the Configuration tab (issue 16): quota period and reset
// time zone, per-client metrics and the three retention settings of the usage history, in Debian's
// chromium against the real api, Postgres and Redis. Bad values are refused under their field with
// the reason and change nothing; good ones are stored and read back. Screenshots desktop and 375 px.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type ApiHarness, type Session } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { horizontalOverflow, screenshotBoth } from './ui-browser.js';

describe('console: quota and accounting settings (chromium, real api)', { timeout: 180_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let api: Session;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  const stored = async () => (await h.call('GET', '/api/v1/settings', { auth: { bearer: api.token } })).body;
  /** The columns as Postgres holds them (the recorder's prune reads these). */
  const columns = async () =>
    (await sql<{ mh: number; hd: number; dd: number }>`SELECT usage_minute_retention_hours AS mh, usage_hour_retention_days AS hd, usage_day_retention_days AS dd FROM settings WHERE id = 1`.execute(h.database.db)).rows[0]!;

  before(async () => {
    ({ stack, h, api } = await startConsoleApi());
    ({ browser, admin } = await openAdminConsole(h.url));
    await admin.page.getByRole('link', { name: 'Configuration' }).click();
    await admin.page.getByTestId('usage-settings').waitFor();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
  });

  it('shows the stored values (the defaults)', async () => {
    const { page } = admin;
    assert.equal(await page.getByLabel('Quota period').inputValue(), 'monthly');
    assert.equal(await page.getByLabel('Quota reset time zone').inputValue(), 'UTC');
    assert.equal(await page.getByLabel('Per-minute usage kept (hours)').inputValue(), '24');
    assert.equal(await page.getByLabel('Hourly usage kept (days)').inputValue(), '30');
    assert.equal(await page.getByLabel('Daily usage kept (days)').inputValue(), '365');
    assert.equal(await page.getByLabel('Byte counters per client in Prometheus').isChecked(), false);
    const body = await stored();
    assert.deepEqual([body.quotaPeriod, body.quotaResetTimezone, body.perClientMetrics, body.usageMinuteRetentionHours, body.usageHourRetentionDays, body.usageDayRetentionDays], ['monthly', 'UTC', false, 24, 30, 365]);
  });

  it('bad values are refused under their field, with the reason, and nothing is stored', async () => {
    const { page } = admin;
    const save = page.getByTestId('save-settings');
    const before = await stored();
    // A zone this system does not know: the api's own words.
    await page.getByLabel('Quota reset time zone').fill('Mars/Olympus_Mons');
    await save.click();
    await page.getByTestId('error-quotaResetTimezone').filter({ hasText: 'is not a time zone this system knows' }).waitFor();
    await page.getByLabel('Quota reset time zone').fill('UTC');
    // Past the bound of the minute history.
    await page.getByLabel('Per-minute usage kept (hours)').fill('200');
    await save.click();
    await page.getByTestId('error-usageMinuteRetentionHours').filter({ hasText: '168' }).waitFor();
    // Not a number at all: refused before any request.
    await page.getByLabel('Per-minute usage kept (hours)').fill('a day');
    await save.click();
    await page.getByTestId('error-usageMinuteRetentionHours').filter({ hasText: 'whole number' }).waitFor();
    // The hours kept shorter than the minutes.
    await page.getByLabel('Per-minute usage kept (hours)').fill('72');
    await page.getByLabel('Hourly usage kept (days)').fill('2');
    await save.click();
    const order = page.getByTestId('error-usageHourRetentionDays');
    await order.filter({ hasText: 'at least as far back as the minute history (72 hours = 3 days)' }).waitFor();
    console.log(`# refused under its field: "${(await order.textContent())?.trim()}"`);
    await screenshotBoth(page, 'settings-usage-error');
    assert.deepEqual(await stored(), before, 'a refused change stored something');
    assert.deepEqual(await columns(), { mh: 24, hd: 30, dd: 365 });
  });

  it('good values are stored, read back and shown after a reload', async () => {
    const { page } = admin;
    await page.getByLabel('Quota period').selectOption('daily');
    await page.getByLabel('Quota reset time zone').fill('Europe/Berlin');
    await page.getByLabel('Per-minute usage kept (hours)').fill('48');
    await page.getByLabel('Hourly usage kept (days)').fill('60');
    await page.getByLabel('Daily usage kept (days)').fill('730');
    await page.getByLabel('Byte counters per client in Prometheus').check();
    await page.getByTestId('save-settings').click();
    await page.getByRole('status').filter({ hasText: 'Settings saved' }).waitFor();
    const body = await stored();
    assert.deepEqual([body.quotaPeriod, body.quotaResetTimezone, body.perClientMetrics, body.usageMinuteRetentionHours, body.usageHourRetentionDays, body.usageDayRetentionDays], ['daily', 'Europe/Berlin', true, 48, 60, 730]);
    assert.deepEqual(await columns(), { mh: 48, hd: 60, dd: 730 });
    await page.reload();
    await page.getByTestId('usage-settings').waitFor();
    await page.waitForFunction(() => (document.getElementById('set-usageDayRetentionDays') as HTMLInputElement | null)?.value === '730');
    assert.equal(await page.getByLabel('Quota period').inputValue(), 'daily');
    assert.equal(await page.getByLabel('Quota reset time zone').inputValue(), 'Europe/Berlin');
    assert.equal(await page.getByLabel('Byte counters per client in Prometheus').isChecked(), true);
    assert.equal(await horizontalOverflow(page), 0, 'no horizontal scroll at 375 px');
    await page.getByTestId('usage-settings').scrollIntoViewIfNeeded();
    await screenshotBoth(page, 'settings-usage');
    // The audit log has the change.
    const audit = (await h.call('GET', '/api/v1/audit?entityType=settings', { auth: { bearer: api.token } })).body;
    assert.ok(audit.items.some((e: { after?: { usageDayRetentionDays?: number } }) => e.after?.usageDayRetentionDays === 730), 'the change is audited');
  });
});
