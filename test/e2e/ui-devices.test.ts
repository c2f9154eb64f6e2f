// Device discovery (issue 17) in Debian's chromium against the real services in a lab: a LAN host
// that no mapping covers sends its first packet; the agent reads the gateway's neighbour table and
// the console lists it as unmapped within 10 s; one click maps it to a proxy with its MAC pinned,
// and its traffic then leaves through that proxy. Saves the Devices screenshots.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createLab, type Lab } from '../../lab/index.js';
import { waitFor } from '../../lab/wait.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { ADMIN_CREDENTIALS, Gateway, REPO_ROOT } from '../support/gateway.js';
import { horizontalOverflow, launchBrowser, logIn, newSession, screenshotBoth } from './ui-browser.js';

/** The new device: its own MAC (locally administered unicast) on the LAN segment. */
const DEVICE_IP = '192.168.2.77';
const DEVICE_MAC = '02:00:00:00:00:77';
const PROXY_NAME = 'lab-socks';

describe('device discovery (chromium, real agent reading the LAN neighbour table)', { timeout: 150_000 }, () => {
  let lab: Lab | undefined;
  let database: TestDatabase | undefined;
  let gateway: Gateway | undefined;
  let browser: Browser | undefined;
  let admin: { context: BrowserContext; page: Page };

  /** One HTTP request from the device through the gateway: the echo host's view of its address, or null. */
  async function exitIpOfDevice(timeoutMs: number): Promise<string | null> {
    const r = await lab!.httpGet({ ns: lab!.ns.lanHost, url: lab!.description.internet.echoUrl, sourceIp: DEVICE_IP, timeoutMs });
    return r.ok && r.status === 200 ? (JSON.parse(r.body) as { ip: string }).ip : null;
  }

  before(async () => {
    if (!existsSync(join(REPO_ROOT, 'ui/dist/index.html'))) throw new Error('ui/dist is not built: run `npm run build` first');
    lab = await createLab({ clients: 1, proxies: ['socks5'] });
    database = await createTestDatabase();
    gateway = new Gateway(lab, database);
    await gateway.seedProxy(lab.proxies[0]!, { name: PROXY_NAME, status: 'up' });
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

  it('lists an unmapped device within 10 s of its first packet', async () => {
    const { page } = admin;
    await page.getByRole('link', { name: 'Proxy Mappings' }).click();
    await page.getByRole('tab', { name: 'Devices' }).click();
    await page.getByTestId('devices-summary').filter({ hasText: 'on ens19' }).waitFor({ timeout: 15_000 });
    await lab!.addLanHost(DEVICE_IP, DEVICE_MAC);
    assert.equal(await page.locator(`tr[data-device="${DEVICE_IP}"]`).count(), 0, 'not listed before it sent anything');

    const firstPacketAt = Date.now();
    // Its first packets: an ARP request for the gateway, then a TCP SYN that pgw drops (no mapping).
    assert.equal(await exitIpOfDevice(1_000), null, 'an unmapped device gets nothing');
    const row = page.locator(`tr[data-device="${DEVICE_IP}"]`);
    await row.waitFor({ timeout: 10_000 });
    const elapsed = Date.now() - firstPacketAt;
    console.log(`device listed ${elapsed} ms after its first packet (load ${readFileSync('/proc/loadavg', 'utf8').trim()})`);
    assert.ok(elapsed <= 10_000, `listed after ${elapsed} ms`);
    assert.equal((await row.locator('td[data-label="MAC"]').innerText()).trim(), DEVICE_MAC);
    assert.match(await row.locator('td[data-label="Last seen"]').innerText(), /\d+ s ago/);
    await screenshotBoth(page, 'devices');
    assert.equal(await horizontalOverflow(page), 0, 'the Devices view fits 375 px');
  });

  it('maps the device from the list with its MAC pinned; its traffic then leaves through the proxy', async () => {
    const { page } = admin;
    await page.getByRole('button', { name: `Map ${DEVICE_IP} to a proxy` }).click();
    const dialog = page.getByRole('dialog', { name: `Map device ${DEVICE_IP}` });
    assert.equal(await dialog.getByLabel('Client IP').inputValue(), DEVICE_IP);
    assert.equal(await dialog.getByLabel('Client MAC (pin)').inputValue(), DEVICE_MAC, 'the MAC is offered as the pin');
    await screenshotBoth(page, 'devices-map');
    await dialog.getByTestId('form-submit').click();
    await page.getByTestId('devices-notice').filter({ hasText: `Device ${DEVICE_IP} mapped to ${PROXY_NAME} (MAC ${DEVICE_MAC} pinned)` }).waitFor({ timeout: 15_000 });
    // Mapped: gone from the unmapped list, shown with its proxy when every device is listed.
    await page.locator(`tr[data-device="${DEVICE_IP}"]`).waitFor({ state: 'detached', timeout: 5_000 });
    await page.getByTestId('only-unmapped').uncheck();
    await page.locator(`tr[data-device="${DEVICE_IP}"] td[data-label="Mapping"]`, { hasText: PROXY_NAME }).waitFor({ timeout: 5_000 });

    const proxyIp = lab!.proxies[0]!.ip;
    await waitFor(`the device to exit through ${proxyIp}`, 15_000, async () => (await exitIpOfDevice(2_000)) === proxyIp, { intervalMs: 250 });

    // The mapping shows the pinned MAC and when the device was last seen.
    await page.getByRole('tab', { name: 'Mappings' }).click();
    const mapping = page.locator(`tr[data-client="${DEVICE_IP}"]`);
    await mapping.locator('[data-testid="mac-pin"]', { hasText: DEVICE_MAC }).waitFor();
    await mapping.locator('[data-testid="last-seen"]', { hasText: /seen \d+ s ago/ }).waitFor({ timeout: 5_000 });
    await screenshotBoth(page, 'mappings-last-seen');
  });
});
