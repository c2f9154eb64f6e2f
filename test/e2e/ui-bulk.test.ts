// Groups and bulk actions (issue 17) in Debian's chromium against the real api, health service,
// Postgres, Redis and a loopback dante (no lab namespaces needed): 100 mappings tagged "floor-2" are
// selected by tag and moved to another proxy in one request: one transaction, one audit row each,
// one change notice; the untagged mappings are left alone. Saves the bulk bar screenshots.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connectRedis } from '@pgw/events';
import type { Redis } from 'ioredis';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { type ApiHarness, type Session } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { horizontalOverflow, screenshotBoth } from './ui-browser.js';

const TAGGED = 100;
const UNTAGGED = 5;

describe('operator console: bulk actions by tag (chromium, real api and health)', { timeout: 180_000 }, () => {
  let stack: ApiStack;
  let h: ApiHarness;
  let api: Session;
  let redis: Redis;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  let from: number;
  let to: number;

  before(async () => {
    ({ stack, h, api } = await startConsoleApi());
    redis = connectRedis(stack.redis.adminUrl);
    for (const name of ['old-exit', 'new-exit']) {
      const proxy = await h.call('POST', '/api/v1/proxies', { auth: { bearer: api.token }, body: { name, url: stack.dante.url } });
      assert.equal(proxy.status, 201, proxy.text);
      if (name === 'old-exit') from = proxy.body.id;
      else to = proxy.body.id;
    }
    // Seeded straight into Postgres (the bulk action is under test, not 105 health-gated creates).
    const rows = Array.from({ length: TAGGED + UNTAGGED }, (_, i) => ({
      clientIp: `192.168.2.${10 + i}`,
      proxyId: from,
      listenPort: 20000 + i,
      description: i < TAGGED ? `desk ${i}` : `printer ${i}`,
      tags: i < TAGGED ? ['floor-2'] : ['floor-3'],
    }));
    await h.db.insertInto('mappings').values(rows).execute();
    ({ browser, admin } = await openAdminConsole(h.url));
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    redis?.disconnect();
    await stack?.stop();
  });

  it('assigns another proxy to the 100 mappings of a tag in one transaction with one notice', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Proxy Mappings' }).click();
    await page.locator('[data-testid="mappings-table"] tr[data-client="192.168.2.10"] [data-testid="tag"]', { hasText: 'floor-2' }).waitFor();
    const bar = page.getByTestId('bulk-bar');
    await bar.getByLabel('Tag to select').fill('Floor 2');
    await bar.getByRole('button', { name: 'By tag' }).click();
    await bar.getByRole('alert').filter({ hasText: 'lower-case' }).waitFor();
    await bar.getByLabel('Tag to select').fill('floor-2');
    await bar.getByRole('button', { name: 'By tag' }).click();
    await bar.getByTestId('bulk-count').filter({ hasText: `${TAGGED} selected` }).waitFor();
    assert.equal(await page.getByRole('checkbox', { name: 'Select 192.168.2.10' }).isChecked(), true);
    // The table renders only the rows in view: bring an untagged one into it with the search.
    await page.getByLabel('Search').fill('printer');
    assert.equal(await page.getByRole('checkbox', { name: `Select 192.168.2.${10 + TAGGED}` }).isChecked(), false, 'an untagged mapping is not selected');
    await page.getByLabel('Search').fill('');
    await bar.getByLabel('Proxy to assign').selectOption(String(to));
    await screenshotBoth(page, 'bulk-bar');
    assert.equal(await horizontalOverflow(page), 0, 'the bulk bar fits 375 px');

    const audits = await h.auditCount();
    const notices = await redis.xlen('pgw:events:api');
    const started = Date.now();
    await bar.getByRole('button', { name: 'Assign' }).click();
    await page.getByTestId('mappings-notice').filter({ hasText: `${TAGGED} mappings assigned to new-exit` }).waitFor({ timeout: 20_000 });
    console.log(`bulk assign of ${TAGGED} mappings: ${Date.now() - started} ms including the health gate (load ${readFileSync('/proc/loadavg', 'utf8').trim()})`);

    const byProxy = await h.db.selectFrom('mappings').select(['proxyId', 'tags']).execute();
    assert.equal(byProxy.filter((m) => m.tags.includes('floor-2') && m.proxyId === to).length, TAGGED, 'every tagged mapping moved');
    assert.equal(byProxy.filter((m) => m.tags.includes('floor-3') && m.proxyId === from).length, UNTAGGED, 'the others stayed');
    assert.equal(await h.auditCount(), audits + TAGGED, 'one audit row per mapping');
    const added = (await redis.xrange('pgw:events:api', '-', '+')).slice(notices);
    assert.deepEqual(added.map(([, fields]) => JSON.parse(fields[fields.indexOf('data') + 1]!)), [{ type: 'mapping.changed', mappingId: null, action: 'updated' }], 'one notice, so one reconcile');
    // The table shows the new proxy on every tagged row once the notice reloaded it.
    await page.locator('tr[data-client="192.168.2.10"] td', { hasText: 'new-exit' }).waitFor();
  });
});
