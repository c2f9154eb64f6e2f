// The operator console in Debian's chromium against the real services in a lab: api, health,
// agent and forwarder with a fresh database, real dante proxies. Saves the README screenshots.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { createLab, type Lab, type ProxyHandle } from '../../lab/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN_CREDENTIALS, Gateway, REPO_ROOT } from '../support/gateway.js';
import { horizontalOverflow, launchBrowser, launchBrowserIn, logIn, newSession, screenshotBoth } from './ui-browser.js';

const VIEWER = { username: 'watcher', password: 'viewer-password-for-tests' };
const LIVE_PROXY = 'lab-socks';
const DEAD_PROXY = 'dead-socks';
/** No service listens there in the lab's WAN: a probe through it is refused at once. */
const DEAD_PORT = 9;

/** A login from the page's own script, as another tab's login form does: the browser's cookies are that session's after it. */
function logInByFetch(page: Page, credentials: { username: string; password: string }): Promise<number> {
  return page.evaluate(
    async (body) => (await fetch('/api/v1/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body, credentials: 'same-origin' })).status,
    JSON.stringify(credentials),
  );
}

async function selectProxy(dialog: Locator, name: string): Promise<void> {
  const value = await dialog.locator('#mf-proxy option', { hasText: name }).getAttribute('value');
  assert.ok(value, `proxy ${name} is not offered in the mapping form`);
  await dialog.locator('#mf-proxy').selectOption(value);
}

describe('operator console (chromium, real services in a lab)', { timeout: 240_000 }, () => {
  let lab: Lab | undefined;
  let database: TestDatabase | undefined;
  let gateway: Gateway | undefined;
  let browser: Browser | undefined;
  let admin: { context: BrowserContext; page: Page };
  let proxy: ProxyHandle;
  let client: string;
  let spareClient: string;

  before(async () => {
    if (!existsSync(join(REPO_ROOT, 'ui/dist/index.html'))) throw new Error('ui/dist is not built: run `npm run build` first');
    lab = await createLab({ clients: 2, proxies: ['socks5'] });
    proxy = lab.proxies[0]!;
    [client, spareClient] = lab.clients as [string, string];
    database = await createTestDatabase();
    // One refused dial is enough for the forwarder to tell the health service (default 3).
    gateway = new Gateway(lab, database, { env: { forwarder: { PGW_UPSTREAM_FAILURE_THRESHOLD: '1' } } });
    for (const service of ['agent', 'forwarder', 'health', 'api'] as const) await gateway.start(service);
    browser = await launchBrowser();
    admin = await newSession(browser, gateway.apiUrl);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await gateway?.destroy().catch(() => undefined);
    await lab?.destroy().catch(() => undefined);
    await database?.drop().catch(() => undefined);
  });

  it('rejects a wrong password and logs the admin in', async () => {
    const { page } = admin;
    await page.goto('/');
    await page.getByLabel('Username').fill(ADMIN_CREDENTIALS.username);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByTestId('login-error').waitFor();
    await screenshotBoth(page, 'login');
    await logIn(page, ADMIN_CREDENTIALS.username, ADMIN_CREDENTIALS.password);
    assert.match((await page.getByTestId('whoami').textContent()) ?? '', /admin/);
  });

  it('adds a live and a dead proxy; "Check now" shows what the probe saw', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Proxy Mappings' }).click();
    await page.getByRole('tab', { name: 'Proxies' }).click();
    for (const [name, port] of [[LIVE_PROXY, proxy.port], [DEAD_PROXY, DEAD_PORT]] as const) {
      await page.getByTestId('add-proxy').click();
      const dialog = page.getByRole('dialog', { name: 'Add proxy' });
      await dialog.getByLabel('Name', { exact: true }).fill(name);
      await dialog.getByLabel('Protocol', { exact: true }).selectOption('socks5');
      await dialog.getByLabel('Host', { exact: true }).fill(proxy.ip);
      await dialog.getByLabel('Port', { exact: true }).fill(String(port));
      await dialog.getByTestId('form-submit').click();
      await page.locator(`tr[data-proxy="${name}"]`).waitFor();
    }
    await page.getByRole('button', { name: `Check ${LIVE_PROXY} now` }).click();
    await page.getByTestId('proxies-notice').filter({ hasText: `Probe of ${LIVE_PROXY} passed` }).waitFor({ timeout: 15_000 });
    assert.match((await page.getByTestId('proxies-notice').textContent()) ?? '', /exit IP \d+\.\d+\.\d+\.\d+/);
    await page.getByRole('button', { name: `Check ${DEAD_PROXY} now` }).click();
    await page.getByTestId('proxies-notice').filter({ hasText: `Probe of ${DEAD_PROXY} failed` }).waitFor({ timeout: 15_000 });
    await page.locator(`tr[data-proxy="${LIVE_PROXY}"] [data-testid="proxy-status"][data-tone="ok"]`).waitFor();
  });

  it('creates a mapping through the health gate; the client becomes effective', async () => {
    const { page } = admin;
    await page.getByRole('tab', { name: 'Mappings' }).click();
    await page.getByTestId('add-mapping').click();
    const dialog = page.getByRole('dialog', { name: 'Add mapping' });
    await dialog.getByLabel('Client IP').fill(client);
    await selectProxy(dialog, LIVE_PROXY);
    await dialog.getByLabel('Description').fill('browser test, "quoted", with comma');
    await dialog.getByTestId('form-submit').click();
    await page.getByTestId('mappings-notice').filter({ hasText: 'Health gate passed' }).waitFor({ timeout: 15_000 });
    const row = page.locator(`tr[data-client="${client}"]`);
    await row.locator('[data-testid="proxy-badge"][data-tone="ok"]').waitFor();
    await row.locator('[data-testid="client-badge"]', { hasText: 'effective' }).waitFor({ timeout: 10_000 });
    // The relay really works: the client reaches the IP-echo host through the proxy.
    const get = await lab!.httpGet({ ns: lab!.ns.lan, url: lab!.description.internet.echoUrl, sourceIp: client, timeoutMs: 5_000 });
    assert.ok(get.ok, `client ${client} could not reach the echo host through its mapping: ${JSON.stringify(get)}`);
  });

  it("rejects a mapping whose proxy is dead and shows the probe's error", async () => {
    const { page } = admin;
    await page.getByTestId('add-mapping').click();
    const dialog = page.getByRole('dialog', { name: 'Add mapping' });
    await dialog.getByLabel('Client IP').fill(spareClient);
    await selectProxy(dialog, DEAD_PROXY);
    await dialog.getByTestId('form-submit').click();
    const error = dialog.getByTestId('form-error');
    await error.waitFor({ timeout: 15_000 });
    const text = (await error.textContent()) ?? '';
    assert.match(text, /Health gate rejected the mapping/);
    assert.match(text, /refused|ECONNREFUSED|connect/i, `the probe's error is missing from: ${text}`);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.locator(`tr[data-client="${spareClient}"]`).count(), 0, 'a rejected mapping must not be stored');
  });

  it('flips the proxy badge to down within 2 s of the proxy process being killed', async () => {
    const { page } = admin;
    const row = page.locator(`tr[data-client="${client}"]`);
    await row.locator('[data-testid="proxy-badge"][data-tone="ok"]').waitFor();
    await proxy.kill();
    const killedAt = Date.now();
    // The client keeps using its mapping, as a real device would: the forwarder's refused dial
    // makes the health service probe at once (the event path), instead of waiting for the 30 s round.
    const traffic = lab!.httpGet({ ns: lab!.ns.lan, url: lab!.description.internet.echoUrl, sourceIp: client, timeoutMs: 2_000 });
    await row.locator('[data-testid="proxy-badge"][data-tone="bad"]').waitFor({ timeout: 2_000 });
    const elapsed = Date.now() - killedAt;
    console.log(`badge down ${elapsed} ms after the proxy was killed`);
    assert.ok(elapsed < 2_000, `badge took ${elapsed} ms`);
    assert.equal((await traffic).ok, false, 'traffic through a dead proxy must fail');
    await row.locator('[data-testid="client-badge"]', { hasText: 'blocked: proxy down' }).waitFor({ timeout: 5_000 });
  });

  it('shows the API field validation message under the settings input', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Configuration' }).click();
    const cidr = page.getByLabel('LAN network');
    await cidr.fill('192.168.2.1/24');
    await page.getByTestId('save-settings').click();
    await page.getByTestId('error-lanCidr').filter({ hasText: /\S/ }).waitFor();
    assert.equal(await cidr.getAttribute('aria-invalid'), 'true');
    await page.getByRole('button', { name: 'Discard changes' }).click();
  });

  it('adds a viewer on the Authentication tab once the admin types their own password, and names a wrong one', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Authentication' }).click();
    await page.locator('#nu-name').fill(VIEWER.username);
    await page.locator('#nu-pass').fill(VIEWER.password);
    await page.locator('#nu-role').selectOption('viewer');
    await page.locator('#nu-current').fill('not-the-admins-password');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.locator('#nu-current-err').filter({ hasText: /current password is wrong/ }).waitFor();
    assert.equal(await page.locator(`tr[data-user="${VIEWER.username}"]`).count(), 0, 'no user added with a wrong password');
    await page.locator('#nu-current').fill(ADMIN_CREDENTIALS.password);
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.locator(`tr[data-user="${VIEWER.username}"]`).waitFor();
  });

  it('makes an admin only through the dialog that asks for the own password; the select keeps the stored role until then', async () => {
    const { page } = admin;
    const spare = { username: 'spare-ops', password: 'spare-ops-password-1' };
    await page.locator('#nu-name').fill(spare.username);
    await page.locator('#nu-pass').fill(spare.password);
    await page.locator('#nu-current').fill(ADMIN_CREDENTIALS.password);
    await page.getByRole('button', { name: 'Add user' }).click();
    const row = page.locator(`tr[data-user="${spare.username}"]`);
    await row.waitFor();
    await row.getByRole('combobox').selectOption('admin');
    const dialog = page.getByRole('dialog', { name: `Make ${spare.username} an admin` });
    await dialog.waitFor();
    assert.equal(await row.getByRole('combobox').inputValue(), 'viewer', 'the select shows the stored role while the dialog is open');
    await dialog.getByLabel('Your password').fill(ADMIN_CREDENTIALS.password);
    await dialog.getByRole('button', { name: 'Make admin' }).click();
    await page.getByTestId('users-notice').filter({ hasText: `${spare.username} is now admin` }).waitFor();
    assert.equal(await row.getByRole('combobox').inputValue(), 'admin');
    await row.getByRole('combobox').selectOption('viewer');
    await page.getByTestId('users-notice').filter({ hasText: `${spare.username} is now viewer` }).waitFor();
  });

  it('saves every tab at desktop width and at 375 px without page-wide horizontal scrolling', async () => {
    const { page } = admin;
    const tabs = [
      ['Dashboard', 'dashboard', '/#/dashboard'],
      ['Proxy Mappings', 'mappings', '/#/mappings'],
      ['Proxy Mappings', 'proxies', '/#/mappings?section=proxies'],
      ['Configuration', 'configuration', '/#/config'],
      ['Authentication', 'authentication', '/#/auth'],
    ] as const;
    for (const [heading, name, path] of tabs) {
      await page.goto(path);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      if (name === 'dashboard') {
        // The dashboard shows the audit trail and each proxy's probe history: wait until they are drawn.
        await page.getByTestId('recent-changes').filter({ hasText: 'create proxy' }).waitFor();
        await page.locator(`tr[data-proxy="${LIVE_PROXY}"] [data-testid="sparkline"]:not([data-points="0"])`).waitFor();
      }
      await screenshotBoth(page, name);
      assert.equal(await horizontalOverflow(page), 0, `${name} scrolls sideways at 375 px`);
    }
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.goto('/#/dashboard');
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
    await screenshotBoth(page, 'dashboard-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('runs every tab and /api/docs under a CSP of its own origin only, with no violation', async () => {
    // helmet's defaults let styles and fonts come from any https: origin: an injected <link> could
    // read the page out through CSS selectors. The console and Swagger UI need their own origin,
    // inline styles (Vue's style bindings) and data: images and fonts, nothing more.
    const { context } = admin;
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    try {
      const answer = await page.goto('/#/dashboard');
      const policy = new Map((answer?.headers()['content-security-policy'] ?? '').split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...sources]) => [name!, sources]));
      const allowed: Record<string, string[]> = { 'style-src': ["'self'", "'unsafe-inline'"], 'img-src': ["'self'", 'data:'], 'font-src': ["'self'", 'data:'] };
      for (const [name, sources] of policy) {
        if (name === '' ) continue;
        for (const source of sources) assert.ok((allowed[name] ?? ["'self'", "'none'"]).includes(source), `${name} allows ${source}`);
      }
      assert.deepEqual(policy.get('frame-ancestors'), ["'none'"]);
      assert.deepEqual(policy.get('connect-src'), ["'self'"]);
      for (const [heading, path] of [['Dashboard', '/#/dashboard'], ['Proxy Mappings', '/#/mappings'], ['Proxy Mappings', '/#/mappings?section=proxies'], ['Configuration', '/#/config'], ['Authentication', '/#/auth']] as const) {
        await page.goto(path);
        await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      }
      await page.goto('/api/docs/');
      await page.locator('.opblock').first().waitFor();
      assert.deepEqual(violations, []);
    } finally {
      await page.close();
    }
  });

  it('gives a viewer everything to see and nothing to edit', async () => {
    const viewer = await newSession(browser!, gateway!.apiUrl);
    try {
      const { page } = viewer;
      await logIn(page, VIEWER.username, VIEWER.password);
      await page.locator(`[data-proxy="${LIVE_PROXY}"]`).waitFor();
      const editing = /^(Add mapping|Add proxy|Add user|Edit|Enable|Disable|Delete|Check|Import CSV|Save settings|Reset password)/;
      await page.getByRole('link', { name: 'Proxy Mappings' }).click();
      await page.locator(`tr[data-client="${client}"]`).waitFor();
      assert.equal(await page.getByRole('button', { name: editing }).count(), 0, 'mapping controls visible to a viewer');
      await page.getByTestId('read-only').waitFor();
      await screenshotBoth(page, 'viewer-mappings');
      await page.getByRole('tab', { name: 'Proxies' }).click();
      await page.locator(`tr[data-proxy="${DEAD_PROXY}"]`).waitFor();
      assert.equal(await page.getByRole('button', { name: editing }).count(), 0, 'proxy controls visible to a viewer');
      await page.getByRole('link', { name: 'Configuration' }).click();
      await page.getByLabel('LAN network').waitFor();
      assert.equal(await page.getByRole('button', { name: editing }).count(), 0, 'settings controls visible to a viewer');
      const inputs = page.locator('form input, form select');
      const n = await inputs.count();
      assert.ok(n >= 10, `expected the settings inputs, found ${n}`);
      for (let i = 0; i < n; i++) assert.equal(await inputs.nth(i).isDisabled(), true, `settings input ${i} is editable`);
      await page.getByRole('link', { name: 'Authentication' }).click();
      await page.getByText('Only admins can see and manage users.').waitFor();
      assert.equal(await page.locator('tr[data-user]').count(), 0);
      // Nor the audit entries about users and sessions (the api leaves them out of a viewer's reads).
      await page.getByTestId('audit-viewer-scope').waitFor();
      // Nor the admins' addresses: no source IP filter (the api refuses it from a viewer).
      assert.equal(await page.locator('#audit-ip').count(), 0, 'a source IP filter shown to a viewer');
      // A link an admin shared with one: the filter is dropped, not sent (a 400 on every search, nothing to clear).
      const searched = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/audit');
      await page.goto('/#/auth?sourceIp=203.0.113.9');
      await page.reload();
      const search = await searched;
      assert.equal(search.status(), 200, `the viewer's search from the link: ${search.status()} ${search.url()}`);
      // And the server refuses anyway: a well-formed change with a valid CSRF token is forbidden.
      const status = await page.evaluate(async () => {
        const { csrfToken } = (await (await fetch('/api/v1/auth/csrf')).json()) as { csrfToken: string };
        const settings = (await (await fetch('/api/v1/settings')).json()) as Record<string, unknown>;
        const body = JSON.stringify({ ...settings, strictOutput: !settings.strictOutput });
        const r = await fetch('/api/v1/settings', { method: 'PUT', headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrfToken }, body });
        return r.status;
      });
      assert.equal(status, 403);
    } finally {
      await viewer.context.close();
    }
  });

  it('loads over plain HTTP at the gateway\'s LAN address: nothing is upgraded to https', async () => {
    // helmet's default CSP has upgrade-insecure-requests: a browser at http://<LAN address> fetched
    // the console's scripts as https:// on the same port (an SSL error) and showed a blank page.
    // Loopback is exempt, so every other console test passed. The api reached at 192.168.2.1 from
    // inside the gateway's namespace, through a socket file to its loopback port (socat).
    const dir = mkdtempSync(join(tmpdir(), 'pgw-console-lan-'));
    const socket = join(dir, 'api.sock');
    const apiPort = new URL(gateway!.apiUrl).port;
    const lanIp = lab!.description.gateway.lanIp;
    const bridges = [
      spawn('socat', [`UNIX-LISTEN:${socket},fork`, `TCP:127.0.0.1:${apiPort}`], { stdio: 'ignore' }),
      spawn('ip', ['netns', 'exec', lab!.ns.gateway, 'socat', `TCP-LISTEN:18080,bind=${lanIp},reuseaddr,fork`, `UNIX-CONNECT:${socket}`], { stdio: 'ignore' }),
    ];
    let lanBrowser: Browser | undefined;
    try {
      lanBrowser = await launchBrowserIn(lab!.ns.gateway);
      const page = await lanBrowser.newPage();
      const failed: string[] = [];
      page.on('requestfailed', (request) => failed.push(`${request.url()} ${request.failure()?.errorText}`));
      const consoleUrl = `http://${lanIp}:18080/`;
      for (let i = 0; i < 50 && !(await page.goto(consoleUrl).then(() => true, () => false)); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      await page.getByLabel('Username').waitFor({ timeout: 10_000 }).catch(() => undefined);
      assert.deepEqual(failed, [], 'requests that failed');
      assert.equal(await page.getByLabel('Username').count(), 1, `the login form at ${consoleUrl}`);
    } finally {
      await lanBrowser?.close().catch(() => undefined);
      for (const bridge of bridges) bridge.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shows "disconnected" while the api is down and goes live again by itself', async () => {
    const { page } = admin;
    await page.goto('/#/dashboard');
    await page.locator('[data-testid="stream-indicator"][data-state="live"]').waitFor();
    await gateway!.stop('api');
    await page.locator('[data-testid="stream-indicator"][data-state="disconnected"]').waitFor({ timeout: 10_000 });
    assert.match((await page.getByTestId('stream-indicator').textContent()) ?? '', /stale/);
    await gateway!.start('api');
    await page.locator('[data-testid="stream-indicator"][data-state="live"]').waitFor({ timeout: 20_000 });
  });

  it('logs out a tab whose CSRF token another login of the same user in the browser made stale', async () => {
    // Tab B's login sets a new session cookie and CSRF cookie for the whole browser (a password
    // change too, which also ends tab A's session: its event stream then sends it to the login page
    // first, unless that stream is between reconnects). Tab A kept its old token: every change it
    // asked for was refused 403, its Log out too, and it stayed signed in for whoever sat down next.
    await logOutBesideLogin(VIEWER, async (tabA, tabB) => {
      assert.equal(await tabA.getByRole('alert').count(), 0, 'no error shown');
      // The session is over at the api too: tab B, on the same cookie, is sent to the login page.
      await tabB.getByRole('button', { name: 'Log in' }).waitFor();
    });
  });

  it('a tab whose cookie another login in the browser took over is signed out, and does not act as that user', async () => {
    // Tab B logs in as the admin: the browser's cookie is the admin's now. Tab A (the viewer) had a
    // stale CSRF token; renewed blindly, its Log out ran as the admin and ended the admin's session.
    await logOutBesideLogin(ADMIN_CREDENTIALS, async (_tabA, tabB) => {
      await tabB.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      assert.equal(await tabB.getByRole('button', { name: 'Log in' }).count(), 0, "the admin's session still stands");
    });
  });

  /**
   * The viewer signed in in tab A; tab B of the same browser logs in as `other` (its cookies the
   * browser's now); tab A's Log out must bring it to the login page. Then `afterwards` judges both,
   * tab B reloaded on its dashboard.
   */
  async function logOutBesideLogin(other: { username: string; password: string }, afterwards: (tabA: Page, tabB: Page) => Promise<void>): Promise<void> {
    const { context, page: tabA } = await newSession(browser!, gateway!.apiUrl);
    try {
      await logIn(tabA, VIEWER.username, VIEWER.password);
      const tabB = await context.newPage();
      await tabB.goto('/#/login');
      assert.equal(await logInByFetch(tabB, other), 200);
      await tabA.getByTestId('logout').click();
      await tabA.getByRole('button', { name: 'Log in' }).waitFor();
      await tabB.goto('/#/dashboard');
      await tabB.reload();
      await afterwards(tabA, tabB);
    } finally {
      await context.close();
    }
  }
});

