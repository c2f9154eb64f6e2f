import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@pgw/log';
import { BootLogger } from './boot-logger.js';

/** The real @pgw/log logger, its lines captured instead of written to stdout. */
function capturingLogger(level: string) {
  const lines: string[] = [];
  const logger = createLogger('forwarder', level);
  for (const transport of logger.transports) transport.silent = true;
  logger.on('data', (info: Record<symbol, string>) => lines.push(info[Symbol.for('message')]!));
  return { logger, lines };
}

describe('BootLogger', () => {
  it('writes the JSON line @pgw/log writes, at once, before the real logger exists', async () => {
    const written: string[] = [];
    const boot = new BootLogger('forwarder', 'info', (line) => written.push(line));
    boot.logger.info('cached desired state loaded', { mappings: 3, ms: 20 });
    boot.logger.debug('not at info');
    assert.equal(written.length, 1);
    const { logger, lines } = capturingLogger('info');
    logger.info('cached desired state loaded', { mappings: 3, ms: 20 });
    await new Promise((resolve) => setImmediate(resolve));
    const strip = (line: string) => line.trim().replace(/"timestamp":"[^"]+"/, '"timestamp":"T"');
    assert.equal(strip(written[0]!), strip(lines[0]!));
    assert.ok(!Number.isNaN(Date.parse(JSON.parse(written[0]!).timestamp)));
  });

  it('forwards to the real logger once attached', async () => {
    const written: string[] = [];
    const boot = new BootLogger('forwarder', 'info', (line) => written.push(line));
    const { logger, lines } = capturingLogger('info');
    boot.attach(logger);
    boot.logger.warn('lost the agent listener socket, reconnecting', { error: 'closed' });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(written.length, 0);
    assert.equal(JSON.parse(lines[0]!).message, 'lost the agent listener socket, reconnecting');
  });

  it('answers isDebugEnabled from the configured level before and after attaching', () => {
    const boot = new BootLogger('forwarder', 'debug', () => undefined);
    assert.equal(boot.logger.isDebugEnabled(), true);
    assert.equal(new BootLogger('forwarder', 'info', () => undefined).logger.isDebugEnabled(), false);
    boot.attach(capturingLogger('debug').logger);
    assert.equal(boot.logger.isDebugEnabled(), true);
  });
});
