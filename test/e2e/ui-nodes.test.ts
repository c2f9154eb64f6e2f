// The Dashboard's "Gateway nodes" card (issue 18) in Debian's chromium against the real api, Postgres
// and Redis. The nodes' records are written into Redis as their agents and forwarders write them
// (per-node keys, test/support/node-status.ts); that real agents write them on a real failover is
// test/e2e/ha-failover.test.ts. One plain gateway shows no card; a pair shows which node is master and
// each node's agent and forwarder; a split brain raises a warning naming both, which clears when one
// steps back. Screenshots at desktop width and 375 px in docs/screenshots.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type AgentStatusRecord, connectRedis, type ForwarderStatusRecord, type HaStatusRecord } from '@pgw/events';
import type { Redis } from 'ioredis';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ADMIN } from '../integration/api-harness.js';
import type { ApiStack } from '../integration/api-stack.js';
import { openAdminConsole, startConsoleApi } from './console-stack.js';
import { writeNodeStatus } from '../support/node-status.js';
import { horizontalOverflow, logIn, screenshotBoth } from './ui-browser.js';

describe('console: gateway nodes card (chromium, real api)', { timeout: 180_000 }, () => {
  let stack: ApiStack;
  let redis: Redis;
  let browser: Browser;
  let admin: { context: BrowserContext; page: Page };
  const at = () => new Date().toISOString();
  const agent = (ok = true): AgentStatusRecord => ({ ok, at: at(), durationMs: 4, appliedMappings: 12, blocked: {}, rejected: [], error: ok ? null : 'nft: apply failed' });
  const forwarder = (activeConnections: number): ForwarderStatusRecord => ({ at: at(), activeConnections, perMapping: {}, listeners: 12 });
  const ha = (state: HaStatusRecord['state'], priority: number, agoS: number): HaStatusRecord => ({ state, since: new Date(Date.now() - agoS * 1000).toISOString(), priority });
  const card = () => admin.page.getByTestId('gateway-nodes');

  before(async () => {
    ({ stack } = await startConsoleApi());
    redis = connectRedis(stack.redis.adminUrl); // stands in for the nodes' agents and forwarders
    ({ browser, admin } = await openAdminConsole(stack.harness.url, false));
  });

  after(async () => {
    redis?.disconnect();
    await browser?.close().catch(() => undefined);
    await stack?.stop();
  });

  it('one gateway without HA: no card (nothing to add to the summary)', async () => {
    await writeNodeStatus(redis, { agent: agent(), forwarder: forwarder(3) }, 'gw');
    await logIn(admin.page, ADMIN.username, ADMIN.password);
    await admin.page.getByTestId('stat-reconcile').waitFor();
    // Two polls of the card's source (2 s each): still nothing.
    await admin.page.waitForTimeout(4_500);
    assert.equal(await card().count(), 0);
    await redis.del('pgw:agent:status:gw', 'pgw:forwarder:status:gw');
    await redis.zrem('pgw:nodes', 'gw');
  });

  it('an HA pair: each node, which is master, its agent and forwarder', async () => {
    await writeNodeStatus(redis, { agent: agent(), forwarder: forwarder(41), ha: ha('MASTER', 150, 3_600) }, 'pgw-a');
    await writeNodeStatus(redis, { agent: agent(), forwarder: forwarder(0), ha: ha('BACKUP', 100, 3_590) }, 'pgw-b');
    await card().waitFor();
    const page = admin.page;
    await page.getByTestId('node-role-pgw-a').filter({ hasText: 'master' }).waitFor();
    // The badge's text after its screen-reader prefix ("Role", "Agent").
    assert.match((await page.getByTestId('node-role-pgw-b').textContent()) ?? '', /backup$/);
    assert.match((await page.getByTestId('node-agent-pgw-a').textContent()) ?? '', /applied$/);
    assert.match((await page.getByTestId('node-forwarder-pgw-a').textContent()) ?? '', /41 connections · 12 listeners/);
    assert.equal(await page.getByTestId('nodes-conflict').count(), 0);
    assert.equal(await horizontalOverflow(page), 0, 'no horizontal scroll at 375 px');
    await card().scrollIntoViewIfNeeded();
    await screenshotBoth(page, 'gateway-nodes');
  });

  it('split brain: a warning naming both masters, gone once one steps back; a silent agent is shown as such', async () => {
    const page = admin.page;
    await writeNodeStatus(redis, { ha: ha('MASTER', 100, 2) }, 'pgw-b');
    const warning = page.getByTestId('nodes-conflict');
    await warning.waitFor();
    assert.equal(await warning.getAttribute('role'), 'alert');
    assert.match((await warning.textContent()) ?? '', /Split brain: pgw-a and pgw-b both claim to be master/);
    assert.equal(await horizontalOverflow(page), 0, 'no horizontal scroll at 375 px');
    await screenshotBoth(page, 'gateway-nodes-split-brain');
    await writeNodeStatus(redis, { ha: ha('BACKUP', 100, 0) }, 'pgw-b');
    await warning.waitFor({ state: 'detached' });
    await redis.del('pgw:agent:status:pgw-b');
    await page.getByTestId('node-agent-pgw-b').filter({ hasText: 'silent' }).waitFor();
  });
});
