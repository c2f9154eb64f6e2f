import type { MappingRow } from '@pgw/db';
import type { ProxyStatus } from '@pgw/domain';

/* The two shapes of a mapping that the rules here and the use cases' ports (services/ports.ts) share. */

/**
 * The columns of a mapping an operator sets. A MAC pin or a private-destinations choice left
 * absent is left as it is (an import without the column); null clears it.
 */
export type MappingFields = Pick<MappingRow, 'clientIp' | 'proxyId' | 'listenPort' | 'enabled' | 'description'> &
  Partial<Pick<MappingRow, 'failPolicy' | 'backupProxyIds'>> &
  Partial<Pick<MappingRow, 'tags'>> &
  Partial<Pick<MappingRow, 'macAddress' | 'privateDestinations'>> &
  Partial<Pick<MappingRow, 'rateDownKbit' | 'rateUpKbit' | 'quotaEpoch'>> & { quotaBytes?: number | null };

/**
 * A mapping row with the proxy facts its effective state depends on. Its timestamps come as the API's
 * ISO 8601 strings (UTC, milliseconds, what Date#toJSON writes): building a Date per row in pg and
 * serialising it again in JSON was a large part of a page's CPU.
 */
export type MappingWithProxy = Omit<MappingRow, 'createdAt' | 'updatedAt'> & {
  createdAt: string;
  updatedAt: string;
  proxyName: string;
  proxyStatus: ProxyStatus;
};
