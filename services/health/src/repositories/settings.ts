import { type Db, readSettings } from '@pgw/db';
import type { Settings } from '@pgw/domain';
import type { Logger } from '@pgw/log';

/**
 * The settings the health service probes under. A row the domain schema refuses (only a writer
 * past the api can store one: `lo` as the LAN interface, a port window below 1024) must not stop
 * the probes: the agent goes on enforcing under the settings it accepted last, so a proxy that dies
 * must still be found dead. Then the settings read before stand in, or, with none read yet (a start
 * on such a row), the row with each refused field at its default. Told once per distinct refusal.
 */
export class HealthSettings {
  private last: Settings | null = null;
  private told = '';

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {}

  async load(): Promise<Settings> {
    const read = await readSettings(this.db);
    if ('settings' in read) {
      if (this.told !== '') this.logger.info('the settings row is accepted again');
      this.told = '';
      return (this.last = read.settings);
    }
    const reasons = read.refusals.map((r) => r.reason).join('; ');
    if (reasons !== this.told) {
      this.told = reasons;
      this.logger.error(`the settings row is refused (${reasons}); probing under ${this.last ? 'the settings read before' : 'the row with those fields at their defaults'} until it is fixed`);
    }
    return (this.last ??= read.standIn);
  }
}
