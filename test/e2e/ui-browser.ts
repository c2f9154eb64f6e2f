// Browser helpers for the console tests: Debian's chromium through playwright-core (never a
// browser download), screenshots under docs/screenshots/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const SCREENSHOT_DIR = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));
export const DESKTOP = { width: 1280, height: 860 } as const;
export const PHONE = { width: 375, height: 812 } as const;

const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
}

/**
 * Chromium in network namespace `ns` (a lab's): it reaches the addresses there, as a browser on
 * that network would. Playwright talks to it over inherited pipes, which `ip netns exec` keeps.
 */
export async function launchBrowserIn(ns: string): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'pgw-chromium-ns-'));
  try {
    const wrapper = join(dir, 'chromium');
    writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${ns} /usr/bin/chromium "$@"\n`, { mode: 0o755 });
    return await chromium.launch({ executablePath: wrapper, args: CHROMIUM_ARGS, timeout: 30_000 });
  } finally {
    // The browser runs by now (or never will): its wrapper is not needed again.
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A fresh cookie jar per user, so an admin and a viewer never share a session. */
export async function newSession(browser: Browser, baseURL: string, colorScheme: 'light' | 'dark' = 'light'): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ baseURL, viewport: DESKTOP, colorScheme });
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  return { context, page };
}

export async function logIn(page: Page, username: string, password: string): Promise<void> {
  await page.goto('/');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
  await page.locator('[data-testid="stream-indicator"][data-state="live"]').waitFor();
}

/** The same screen at desktop width and at 375 px, as <name>-desktop.png and <name>-375.png. */
export async function screenshotBoth(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const before = page.viewportSize() ?? DESKTOP;
  await resizeTo(page, DESKTOP);
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}-desktop.png`, fullPage: true });
  await resizeTo(page, PHONE);
  await page.screenshot({ path: `${SCREENSHOT_DIR}${name}-375.png`, fullPage: true });
  await resizeTo(page, before);
}

/**
 * A new viewport size, once the page has drawn it. Components that switch layout on a media query
 * (the mappings table's narrow rows) do so in the query's change event, which the browser fires
 * in its next rendering step: read at once, the page still had the wide layout at 375 px (a
 * 1235 px table; seen on a slow machine). Two animation frames later the switch has rendered.
 */
export async function resizeTo(page: Page, size: { width: number; height: number }): Promise<void> {
  await page.setViewportSize(size);
  await page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
}

/** Page width must not exceed the viewport at 375 px (tables scroll inside their own box). */
export async function horizontalOverflow(page: Page): Promise<number> {
  await resizeTo(page, PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (overflow > 0) {
    // Which elements stick out, for the failure's reader: the outermost ones past the right edge.
    const culprits = await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      const past = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > width + 1);
      return past.filter((e) => !past.includes(e.parentElement!)).slice(0, 5).map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${[...e.classList].join('.')}[${e.getAttribute('data-testid') ?? ''}] right ${Math.round(e.getBoundingClientRect().right)}`);
    });
    console.log(`# ${overflow} px past a ${PHONE.width} px page: ${culprits.join('; ')}`);
  }
  await resizeTo(page, DESKTOP);
  return overflow;
}
