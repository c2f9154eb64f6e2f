// What a new operator found driving the console (issue 17), in Debian's chromium against the real
// api, health service, Postgres, Redis and a dante on loopback (no lab namespaces needed): lists that
// stay fresh, a Proxies tab that fits, notices that tell the truth in plain words, a revoked session
// that ends at the login page.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN, type ApiHarness, type Session, VIEWER } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { DESKTOP, logIn, newSession, PHONE, resizeTo } from './ui-browser.js';

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
    ({ stack, h, api } = await startConsoleApi());
    ({ browser, admin } = await openAdminConsole(h.url));
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
    const checkedAt = Date.now();
    await shownSince(page, 'tr[data-proxy="fresh-proxy"]', quiet);
    console.log(`a quiet probe shown ${Date.now() - checkedAt} ms after it was stored`);

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
    await shownSince(page, 'tr[data-proxy="fresh-proxy"]', later);
  });
  it('fits the Proxies tab: no sideways page at 375 px, no table wider than its box at 1366 and 1280 px, Delete always on screen', async () => {
    const { page } = admin;
    // Long but ordinary values: a provider's account name, a down proxy with its error.
    await createProxy({ name: 'residential-eu-west-01', protocol: 'socks5', host: stack.dante.ip, port: stack.dante.port, username: 'customer-account-778101-zone-resi', password: 'pw-778101-secret' });
    const dead = await createProxy({ name: 'datacenter-us-east-02', protocol: 'http', host: stack.deadEndpoint.host, port: stack.deadEndpoint.port });
    await h.call('POST', `/api/v1/proxies/${dead}/check`, bearer());
    await page.goto('/#/mappings?section=proxies');
    await page.locator('tr[data-proxy="datacenter-us-east-02"] [data-testid="proxy-status"][data-tone="bad"]').waitFor({ timeout: POLL_BOUND_MS });
    for (const viewport of [{ width: 1366, height: 768 }, DESKTOP]) {
      await resizeTo(page, viewport);
      const box = await page.evaluate(() => {
        const wrap = document.querySelector('#panel-proxies .table-wrap') as HTMLElement;
        return { scroll: wrap.scrollWidth, client: wrap.clientWidth };
      });
      assert.ok(box.scroll <= box.client, `at ${viewport.width} px the proxies table is ${box.scroll} px in a ${box.client} px box`);
      await assertDeleteButtonsVisible(page, viewport.width);
    }
    await resizeTo(page, PHONE);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, `the page scrolls sideways by ${overflow} px at 375 px`);
    await assertDeleteButtonsVisible(page, PHONE.width);
    await page.setViewportSize(DESKTOP);
  });

  it("tells the truth after saving a proxy, in plain words, every problem once and without internal ids", async () => {
    const { page } = admin;
    await page.goto('/#/mappings?section=proxies');
    await page.getByTestId('add-proxy').click();
    let dialog = page.getByRole('dialog', { name: 'Add proxy' });
    // Every problem at once, worded for a person (no validator text, no regex).
    await dialog.getByLabel('Name', { exact: true }).fill('   ');
    await dialog.getByLabel('Host', { exact: true }).fill('');
    await dialog.getByTestId('form-submit').click();
    await dialog.locator('#pf-name-err').filter({ hasText: /\S/ }).waitFor();
    const nameError = (await dialog.locator('#pf-name-err').textContent()) ?? '';
    const hostError = (await dialog.locator('#pf-host-err').textContent()) ?? '';
    assert.ok(hostError.trim() !== '', `the second problem (host) is not shown; name says "${nameError}"`);
    for (const text of [nameError, hostError, (await dialog.textContent()) ?? '']) assert.doesNotMatch(text, /must NOT|pattern|\^|\$|characters$/, `raw validator text: ${text}`);

    await dialog.getByLabel('Name', { exact: true }).fill('form-proxy');
    await dialog.getByLabel('Host', { exact: true }).fill(stack.dante.ip);
    await dialog.getByLabel('Port', { exact: true }).fill(String(stack.dante.port));
    await dialog.getByTestId('form-submit').click();
    const row = page.locator('tr[data-proxy="form-proxy"]');
    await row.locator('[data-testid="proxy-status"][data-tone="ok"]').waitFor({ timeout: POLL_BOUND_MS });
    const notice = page.getByTestId('proxies-notice');
    await notice.filter({ hasText: /\bup\b/ }).waitFor({ timeout: 2_000 }).catch(() => undefined);
    const saved = (await notice.textContent()) ?? '';
    assert.doesNotMatch(saved, /unknown/, `the notice contradicts the row: ${saved}`);
    assert.match(saved, /form-proxy/);
    assert.match(saved, /\bup\b/, `the notice does not say the proxy is up: ${saved}`);

    // Renamed: same truth.
    await page.getByRole('button', { name: 'Edit form-proxy' }).click();
    dialog = page.getByRole('dialog', { name: /Edit proxy form-proxy/ });
    // Another admin changes the proxy while this dialog is open: the rename must not put it back.
    const id = (await h.call('GET', '/api/v1/proxies', bearer())).body.items.find((p: { name: string }) => p.name === 'form-proxy').id as number;
    const other = await h.call('PATCH', `/api/v1/proxies/${id}`, { ...bearer(), body: { exitDiffers: true } });
    assert.equal(other.status, 200, other.text);
    await dialog.getByLabel('Name', { exact: true }).fill('form-proxy-2');
    await dialog.getByTestId('form-submit').click();
    await page.locator('tr[data-proxy="form-proxy-2"]').waitFor();
    assert.doesNotMatch((await notice.textContent()) ?? '', /unknown/);
    assert.equal((await h.call('GET', `/api/v1/proxies/${id}`, bearer())).body.exitDiffers, true, "the rename sent back the form's whole proxy, undoing the other admin's change");

    // A conflict names the client, never an id the console does not show.
    await page.getByRole('tab', { name: 'Mappings' }).click();
    await page.locator('tr[data-client="192.168.2.10"]').waitFor();
    await page.getByTestId('add-mapping').click();
    dialog = page.getByRole('dialog', { name: 'Add mapping' });
    await dialog.getByLabel('Client IP').fill('192.168.2.10');
    await dialog.getByTestId('form-submit').click();
    const clientError = dialog.locator('[id$="-err"]').filter({ hasText: /\S/ }).first();
    await clientError.waitFor();
    assert.doesNotMatch((await dialog.textContent()) ?? '', /mapping \d+|#\d+/, 'an internal id in the message');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // CSV problems: each once, in the import's dry run (issue 17), which cannot be applied.
    const csv = 'client_ip,proxy_name\n10.9.9.9,form-proxy-2\n192.168.2.77,no-such-proxy\n';
    await page.locator('input[type="file"]').setInputFiles({ name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    const preview = page.getByRole('dialog', { name: 'Import bad.csv' });
    const rejected = preview.getByTestId('import-rejected');
    await rejected.waitFor();
    const text = (await preview.textContent()) ?? '';
    for (const problem of ['10.9.9.9 is not inside the LAN', 'no proxy named "no-such-proxy"']) {
      assert.equal(text.split(problem).length - 1, 1, `"${problem}" should appear once in: ${text}`);
    }
    assert.equal(await preview.getByTestId('import-apply').isDisabled(), true, 'a refused file cannot be applied');
    await preview.getByRole('button', { name: 'Cancel' }).click();
    await preview.waitFor({ state: 'hidden' });
  });

  it('searches IPs by whole octets (".10" is not ".100" unless ".10*"), keeps search, filter and sort in the URL, sorts by a column', async () => {
    const { page } = admin;
    const proxyId = (await h.call('GET', '/api/v1/proxies', bearer())).body.items.find((p: { name: string }) => p.name === 'fresh-proxy').id;
    for (const clientIp of ['192.168.2.100', '192.168.2.9']) {
      const res = await h.call('POST', '/api/v1/mappings', { ...bearer(), body: { clientIp, proxyId } });
      assert.equal(res.status, 201, res.text);
    }
    await page.goto('/#/mappings');
    await page.locator('tr[data-client="192.168.2.100"]').waitFor();
    const shown = async () => page.locator('tr[data-client]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-client')));
    await page.getByLabel('Search').fill('.10');
    await page.waitForFunction(() => !document.querySelector('tr[data-client="192.168.2.100"]'), undefined, { timeout: 2_000 }).catch(() => undefined);
    assert.deepEqual(await shown(), ['192.168.2.10']);
    await page.getByLabel('Search').fill('.10*');
    await page.locator('tr[data-client="192.168.2.100"]').waitFor({ timeout: 2_000 });
    assert.deepEqual((await shown()).sort(), ['192.168.2.10', '192.168.2.100']);
    await page.getByLabel('Search').fill('.10');
    await page.getByLabel('Client state').selectOption('all');
    await page.getByLabel('Proxy status').selectOption('up');
    await page.waitForFunction(() => location.hash.includes('q=.10') && location.hash.includes('proxy=up'), undefined, { timeout: 2_000 });

    // A reload (or a shared link) shows the same view.
    await page.reload();
    await page.locator('tr[data-client="192.168.2.10"]').waitFor();
    assert.equal(await page.getByLabel('Search').inputValue(), '.10');
    assert.equal(await page.getByLabel('Proxy status').inputValue(), 'up');
    assert.deepEqual(await shown(), ['192.168.2.10']);

    // Sorting: by client IP numerically (.9 before .10 before .100), then the other way round; kept in the URL.
    await page.getByLabel('Search').fill('');
    const header = page.getByRole('button', { name: /^Client IP/ });
    await header.click();
    await page.waitForFunction(() => location.hash.includes('sort=clientIp'), undefined, { timeout: 2_000 });
    assert.equal(await page.locator('th', { has: header }).getAttribute('aria-sort'), 'ascending');
    assert.deepEqual(await shown(), ['192.168.2.9', '192.168.2.10', '192.168.2.100']);
    await header.click();
    assert.equal(await page.locator('th', { has: header }).getAttribute('aria-sort'), 'descending');
    assert.deepEqual(await shown(), ['192.168.2.100', '192.168.2.10', '192.168.2.9']);
  });

  it('keeps the keyboard focus after a delete and after a failed login', async () => {
    const { page } = admin;
    await page.goto('/#/mappings');
    await page.reload(); // no search or sort left from the test before
    await page.getByRole('button', { name: 'Delete 192.168.2.9' }).click();
    await page.getByRole('dialog', { name: /Delete mapping 192.168.2.9/ }).getByRole('button', { name: 'Delete' }).click();
    await page.getByTestId('mappings-notice').filter({ hasText: 'deleted' }).waitFor();
    // The list's reload takes the row away, and with it the Delete button the dialog gave the focus
    // back to: judge the focus only once the row is gone (before, the test passed when it looked first).
    await page.getByRole('button', { name: 'Delete 192.168.2.9' }).waitFor({ state: 'detached' });
    const focus = await page.evaluate(() => ({ inPanel: !!document.activeElement?.closest('#panel-mappings'), what: document.activeElement?.outerHTML.slice(0, 80) ?? 'none' }));
    assert.ok(focus.inPanel, `after the delete the focus is not in the mappings panel but on ${focus.what}`);

    const other = await newSession(browser, h.url);
    try {
      await other.page.goto('/');
      await other.page.getByLabel('Username').fill(ADMIN.username);
      await other.page.getByLabel('Password').fill('not-the-password');
      await other.page.getByRole('button', { name: 'Log in' }).click();
      await other.page.getByTestId('login-error').waitFor();
      assert.equal(await other.page.evaluate(() => document.activeElement?.id), 'login-password', 'focus is back on the password after a failed login');
    } finally {
      await other.context.close();
    }
  });

  it('asks before leaving the Configuration tab with unsaved settings: Stay keeps the edit, Discard leaves without saving', async () => {
    const { page } = admin;
    await page.goto('/#/config');
    const interval = page.locator('#set-healthIntervalS');
    await interval.waitFor();
    const original = await interval.inputValue();
    const nav = page.locator('nav a.tab', { hasText: 'Dashboard' });
    await nav.click(); // nothing edited: leaves without asking
    await page.waitForURL(/#\/dashboard/);
    await page.goto('/#/config');
    await interval.fill(String(Number(original) + 7));
    await nav.click();
    const dialog = page.getByRole('dialog', { name: /unsaved/i });
    await dialog.waitFor({ timeout: 3_000 });
    await dialog.getByRole('button', { name: 'Stay' }).click();
    assert.match(page.url(), /#\/config/, 'Stay keeps the tab');
    assert.equal(await interval.inputValue(), String(Number(original) + 7), 'and the edit');
    await nav.click();
    await dialog.getByRole('button', { name: /Discard/ }).click();
    await page.waitForURL(/#\/dashboard/);
    const stored = (await h.call('GET', '/api/v1/settings', bearer())).body as { healthIntervalS: number };
    assert.equal(String(stored.healthIntervalS), original, 'nothing was saved');
  });

  it("refuses a save built on settings another admin changed meanwhile (412): theirs stand, and the tab offers their version", async () => {
    const { page } = admin;
    await page.goto('/#/config');
    const interval = page.locator('#set-healthIntervalS');
    await interval.waitFor();
    const original = Number(await interval.inputValue());
    await interval.fill(String(original + 9));
    // Another admin saves meanwhile (the api, as a second console would).
    const current = await h.call('GET', '/api/v1/settings', bearer());
    const theirs = !current.body.strictOutput;
    assert.equal((await h.call('PUT', '/api/v1/settings', { ...bearer(), body: { ...current.body, strictOutput: theirs } })).status, 200);
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/settings') && r.request().method() === 'PUT', { timeout: 10_000 });
    await page.getByTestId('save-settings').click();
    const response = await answered;
    assert.equal(response.status(), 412, `the stale save was taken: ${await response.text()}`);
    await page.getByRole('alert').filter({ hasText: 'Someone else changed the settings' }).first().waitFor({ timeout: 5_000 });
    const stored = (await h.call('GET', '/api/v1/settings', bearer())).body as { strictOutput: boolean; healthIntervalS: number };
    assert.deepEqual([stored.strictOutput, stored.healthIntervalS], [theirs, original], "the other admin's change stands, nothing of the stale save");
    await page.getByRole('button', { name: 'Load their version' }).click();
    for (let i = 0; i < 50 && (await interval.inputValue()) !== String(original); i++) await page.waitForTimeout(100);
    assert.equal(await interval.inputValue(), String(original), 'their version loaded into the form');
    // Back as it was for the tests after this one.
    assert.equal((await h.call('PUT', '/api/v1/settings', { ...bearer(), body: { ...stored, strictOutput: current.body.strictOutput } })).status, 200);
  });

  it('shows a viewer settings that look read-only (muted, not-allowed cursor), unlike the admin\'s editable ones', async () => {
    const style = (page: Page) =>
      page.locator('#set-healthIntervalS').evaluate((el) => {
        const css = getComputedStyle(el);
        return { disabled: (el as HTMLInputElement).matches(':disabled'), cursor: css.cursor, background: css.backgroundColor, border: css.borderStyle };
      });
    await admin.page.goto('/#/config');
    await admin.page.locator('#set-healthIntervalS').waitFor();
    const editable = await style(admin.page);
    const viewer = await newSession(browser, h.url);
    try {
      await logIn(viewer.page, VIEWER.username, VIEWER.password);
      await viewer.page.goto('/#/config');
      await viewer.page.locator('#set-healthIntervalS').waitFor();
      const readOnly = await style(viewer.page);
      assert.equal(readOnly.disabled, true);
      assert.equal(readOnly.cursor, 'not-allowed', 'a read-only field says so under the pointer');
      assert.notEqual(readOnly.background, editable.background, `read-only ${JSON.stringify(readOnly)} looks like editable ${JSON.stringify(editable)}`);
      assert.notEqual(readOnly.border, editable.border);
    } finally {
      await viewer.context.close();
    }
  });

  /** Clicks Save settings and waits for the api's answer (a status line may still show the previous save). */
  async function save(page: Page): Promise<void> {
    const answered = page.waitForResponse((r) => r.url().endsWith('/api/v1/settings') && r.request().method() === 'PUT', { timeout: 10_000 });
    await page.getByTestId('save-settings').click();
    const response = await answered;
    assert.equal(response.status(), 200, await response.text());
  }

  it('switches the interception mode to TPROXY with the other settings (issue 15); a viewer sees it read-only', async () => {
    const { page } = admin;
    await page.goto('/#/config');
    const mode = page.locator('#set-interceptMode');
    await mode.waitFor();
    assert.equal(await mode.inputValue(), 'dnat', 'the stored default');
    assert.match(await page.locator('#set-interceptMode-hint').innerText(), /route_localnet at 0.*relays clients' UDP through their SOCKS5 proxy/s);
    await mode.selectOption('tproxy');
    await save(page);
    await page.getByRole('status').filter({ hasText: 'Settings saved' }).waitFor({ timeout: 10_000 });
    const stored = (await h.call('GET', '/api/v1/settings', bearer())).body as { interceptMode: string };
    assert.equal(stored.interceptMode, 'tproxy');
    const viewer = await newSession(browser, h.url);
    try {
      await logIn(viewer.page, VIEWER.username, VIEWER.password);
      await viewer.page.goto('/#/config');
      const seen = viewer.page.locator('#set-interceptMode');
      await seen.waitFor();
      assert.equal(await seen.inputValue(), 'tproxy');
      assert.equal(await seen.isDisabled(), true);
    } finally {
      await viewer.context.close();
      // The later cases expect the default mode.
      await mode.selectOption('dnat');
      await save(page);
    }
  });

  it('sends a revoked session to the login page at once, without waiting for an api call', async () => {
    const viewer = await newSession(browser, h.url);
    try {
      await logIn(viewer.page, VIEWER.username, VIEWER.password);
      await viewer.page.goto('/#/mappings?section=proxies');
      await viewer.page.locator('tr[data-proxy]').first().waitFor();
      const users = (await h.call('GET', '/api/v1/users', bearer())).body.items as { id: number; username: string }[];
      const victor = users.find((u) => u.username === VIEWER.username)!;
      const revokedAt = Date.now();
      assert.equal((await h.call('PATCH', `/api/v1/users/${victor.id}`, { ...bearer(), body: { password: 'a-new-password-for-victor', currentPassword: ADMIN.password } })).status, 200);
      await viewer.page.getByRole('button', { name: 'Log in' }).waitFor({ timeout: 5_000 });
      console.log(`login page ${Date.now() - revokedAt} ms after the revocation`);
      assert.equal(await viewer.page.locator('tr[data-proxy]').count(), 0, 'data still shown after the revocation');
    } finally {
      await viewer.context.close();
    }
  });
});

/**
 * The row's "checked" time is that probe's or a later one (the health service's own rounds probe too,
 * and may store a newer check before the console polls), within the poll bound.
 */
async function shownSince(page: Page, row: string, iso: string): Promise<void> {
  await page.waitForFunction(
    ({ row, since }) => {
      const at = document.querySelector(`${row} time[datetime]`)?.getAttribute('datetime');
      return at !== null && at !== undefined && Date.parse(at) >= since;
    },
    { row, since: Date.parse(iso) },
    { timeout: POLL_BOUND_MS },
  );
}

/** Every row's Delete button lies inside the viewport (not cut off, not behind a sideways scroll). */
async function assertDeleteButtonsVisible(page: Page, width: number): Promise<void> {
  const buttons = page.locator('#panel-proxies tbody button', { hasText: /^Delete$/ });
  const n = await buttons.count();
  assert.ok(n >= 2, `expected Delete buttons, found ${n}`);
  for (let i = 0; i < n; i++) {
    const box = await buttons.nth(i).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= width, `Delete button ${i} is at ${JSON.stringify(box)}, outside 0-${width} px`);
  }
}
