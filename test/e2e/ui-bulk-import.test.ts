// The CSV import's dry run (issue 17) in Debian's chromium against the real api, health service,
// Postgres, Redis and a loopback dante (no lab): an exported file imported back shows "unchanged"
// and exports byte for byte the same; an edited file shows what it adds and changes (or why it
// would be refused) before anything is written, and is applied on "Apply". Saves screenshots.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type ApiHarness, type Session } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { screenshotBoth } from './ui-browser.js';

describe('operator console: CSV import dry run and round trip (chromium, real api and health)', { timeout: 150_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let api: Session;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };

  async function exportCsv(page: Page): Promise<string> {
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    return readFileSync((await download.path())!, 'utf8');
  }
  async function choose(page: Page, name: string, text: string): Promise<void> {
    await page.getByLabel('Import mappings from a CSV file').setInputFiles({ name, mimeType: 'text/csv', buffer: Buffer.from(text) });
    await page.getByRole('dialog', { name: `Import ${name}` }).waitFor();
  }
  const rows = async () => (await h.db.selectFrom('mappings').select(['clientIp', 'description']).orderBy('clientIp').execute()).map((m) => `${m.clientIp} ${m.description}`);

  before(async () => {
    ({ stack, h, api } = await startConsoleApi());
    const proxy = await h.call('POST', '/api/v1/proxies', { auth: { bearer: api.token }, body: { name: 'lab-a', url: stack.dante.url } });
    assert.equal(proxy.status, 201, proxy.text);
    await h.db.insertInto('mappings').values([
      { clientIp: '192.168.2.10', proxyId: proxy.body.id, listenPort: 20000, description: 'desk, "quoted"' },
      { clientIp: '192.168.2.11', proxyId: proxy.body.id, listenPort: 20001, description: '=cmd|formula', macAddress: '52:54:00:12:34:56' },
      { clientIp: '192.168.2.12', proxyId: proxy.body.id, listenPort: 20002, description: 'printer', enabled: false },
    ]).execute();
    ({ browser, admin } = await openAdminConsole(h.url));
    await admin.page.getByRole('link', { name: 'Proxy Mappings' }).click();
    await admin.page.locator('tr[data-client="192.168.2.12"]').waitFor();
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await stack?.stop();
  });

  it('an exported file imports back as unchanged and exports exactly the same again', async () => {
    const { page } = admin;
    const first = await exportCsv(page);
    const audits = await h.auditCount();
    await choose(page, 'round-trip.csv', first);
    assert.match(await page.getByTestId('import-summary').innerText(), /0 to add, 0 to change, 3 unchanged\./);
    await page.getByTestId('import-apply').click();
    await page.getByTestId('mappings-notice').filter({ hasText: '0 created, 0 updated, 3 unchanged' }).waitFor();
    assert.equal(await h.auditCount(), audits, 'nothing written');
    assert.equal(await exportCsv(page), first, 'export -> import -> export round-trips byte for byte');
  });

  it('shows the dry run (or why the file would be refused) and applies only on confirm', async () => {
    const { page } = admin;
    const before = await rows();
    const lines = (await exportCsv(page)).trimEnd().split(/\r?\n/);
    // New rows in the export's own columns (whatever they are), the cells not named left empty.
    const row = (cells: Record<string, string>) => lines[0]!.split(',').map((c) => cells[c] ?? '').join(',');
    const edited = [lines[0], lines[1]!.replace('desk', 'desk moved'), lines[2], lines[3], row({ client_ip: '192.168.2.50', proxy_name: 'lab-a', enabled: 'true', description: 'new kiosk' })];
    await choose(page, 'refused.csv', [...edited, row({ client_ip: '10.0.0.1', proxy_name: 'lab-a', enabled: 'true', description: 'outside' })].join('\r\n') + '\r\n');
    await page.getByTestId('import-rejected').filter({ hasText: 'line 6, client_ip' }).waitFor();
    assert.equal(await page.getByTestId('import-apply').isDisabled(), true, 'a file the import would refuse cannot be applied');
    await page.getByRole('dialog', { name: 'Import refused.csv' }).getByRole('button', { name: 'Cancel' }).click();
    assert.deepEqual(await rows(), before, 'the dry run wrote nothing');

    await choose(page, 'edited.csv', edited.join('\r\n') + '\r\n');
    assert.match(await page.getByTestId('import-summary').innerText(), /1 to add, 1 to change, 2 unchanged\./);
    await page.getByTestId('import-diff').filter({ hasText: 'line 5: add 192.168.2.50 → lab-a' }).waitFor();
    await page.getByTestId('import-diff').filter({ hasText: /line 2: 192\.168\.2\.10: description desk, "quoted" → desk moved, "quoted"/ }).waitFor();
    assert.deepEqual(await rows(), before, 'nothing written before "Apply"');
    await screenshotBoth(page, 'import-dry-run');
    await page.getByTestId('import-apply').click();
    await page.getByTestId('mappings-notice').filter({ hasText: '1 created, 1 updated, 2 unchanged' }).waitFor({ timeout: 15_000 });
    assert.deepEqual(await rows(), ['192.168.2.10 desk moved, "quoted"', '192.168.2.11 =cmd|formula', '192.168.2.12 printer', '192.168.2.50 new kiosk']);
  });
});
