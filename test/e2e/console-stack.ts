// The console tests' common start: the real api stack (api, health, Postgres, Redis and a dante on
// loopback: ApiStack) serving the built console, and Debian's chromium with the admin's session.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN, type ApiHarness, type Session } from '../integration/api-harness.js';
import { ApiStack } from '../integration/api-stack.js';
import { REPO_ROOT } from '../support/gateway.js';
import { launchBrowser, logIn, newSession } from './ui-browser.js';

/** The api stack serving ui/dist, and the admin's api session (for seeding and checks). */
export async function startConsoleApi(): Promise<{ stack: ApiStack; h: ApiHarness; api: Session }> {
  const uiDir = join(REPO_ROOT, 'ui/dist');
  if (!existsSync(join(uiDir, 'index.html'))) throw new Error('ui/dist is not built: run `npm run build -w @pgw/ui` first');
  const stack = await ApiStack.start({ PGW_UI_DIR: uiDir });
  try {
    return { stack, h: stack.harness, api: await stack.harness.login(ADMIN) };
  } catch (error) {
    await stack.stop();
    throw error;
  }
}

/** Chromium with the admin's own cookie jar on `url`, logged in unless `loggedIn` is false. */
export async function openAdminConsole(url: string, loggedIn = true): Promise<{ browser: Browser; admin: { context: BrowserContext; page: Page } }> {
  const browser = await launchBrowser();
  try {
    const admin = await newSession(browser, url);
    if (loggedIn) await logIn(admin.page, ADMIN.username, ADMIN.password);
    return { browser, admin };
  } catch (error) {
    await browser.close().catch(() => undefined);
    throw error;
  }
}
