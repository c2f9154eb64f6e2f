// PGW_UI_DIR naming a directory without a built console: the console was silently off (every
// page a 404), nothing in the log said why. The api now says it once at start and serves as usual.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import winston from 'winston';
import { ApiHarness } from './api-harness.js';

describe('api: a UI directory without a built console', { timeout: 60_000 }, () => {
  const empty = mkdtempSync(join(tmpdir(), 'pgw-ui-empty-'));
  let h: ApiHarness | undefined;
  after(async () => {
    await h?.stop();
    rmSync(empty, { recursive: true, force: true });
  });

  it('is named in a warning at start; the api answers', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
    const logger = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: sink })] });
    h = await ApiHarness.start({ PGW_UI_DIR: empty }, { logger });
    const warning = lines.map((l) => JSON.parse(l) as { level: string; message: string; uiDir?: string }).find((l) => l.level === 'warn' && /console is off/.test(l.message));
    assert.equal(warning?.uiDir, empty, lines.join(''));
    assert.equal((await h.call('GET', '/healthz')).status, 200);
  });
});
