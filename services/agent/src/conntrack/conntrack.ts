import { ipv4Schema } from '@pgw/domain';
import { netlinkTalk } from '@pgw/original-dst';
import { deleteRequests, dumpRequest, parseAcks, parseDump } from '../netlink/ctnetlink.js';
import type { ClientDisconnect } from './disconnect-plan.js';

/**
 * Deletes per request. The kernel acknowledges each before we read any, and each acknowledgement is
 * a socket buffer of its own (~768 bytes of receive buffer, though its message is 36): 1000 overran
 * the default 208 KiB after ~270, the rest were dropped and recv failed ENOBUFS, leaving the later
 * requests unsent (test/e2e/conntrack-many-deletes.test.ts). 128 fit the default buffer by itself;
 * netlinkTalk also asks for a larger one.
 */
const DELETES_PER_REQUEST = 128;
/** A dump the table's changes interrupted is taken again, at most this many times. */
const DUMP_ATTEMPTS = 3;

/**
 * Ends the tracked connections the clients opened (original source = the client), so nothing
 * keeps flowing on a DNAT binding that is no longer in force; a client's entries DNAT-ed to its
 * `keepPort` stay. Over ctnetlink directly: ONE dump
 * of the namespace's table (the kernel walks every bucket of its hash, ~10 ms however few entries
 * there are) filtered here by source, then one delete per matching entry by tuple and id (a hash
 * lookup each), all in one request. `conntrack -D -s` walks the table once per client, and even
 * its batch mode (-R) does one dump per line: 150 ms for 16 clients on an idle table.
 * Runs in the agent's namespace; a client without entries is not an error.
 */
export async function deleteClientConnections(clients: readonly ClientDisconnect[]): Promise<{ deleted: number }> {
  if (clients.length === 0) return { deleted: 0 };
  const wanted = new Map(clients.map((c) => [ipv4Schema.parse(c.ip), c.keepPort] as const));
  let seq = Date.now() >>> 0;
  let deleted = 0;
  for (let attempt = 1; ; attempt++) {
    const dump = parseDump(await netlinkTalk('netfilter', dumpRequest(seq++), 1), wanted);
    for (let i = 0; i < dump.entries.length; i += DELETES_PER_REQUEST) {
      const chunk = dump.entries.slice(i, i + DELETES_PER_REQUEST);
      const acks = parseAcks(await netlinkTalk('netfilter', deleteRequests(chunk, seq), chunk.length));
      seq += chunk.length;
      if (acks.errors.length > 0) throw new Error(`conntrack delete of ${chunk.length} entr(ies) failed: errno ${[...new Set(acks.errors)].join(', ')}`);
      deleted += acks.deleted;
    }
    if (!dump.interrupted) return { deleted };
    if (attempt === DUMP_ATTEMPTS) throw new Error(`conntrack dump interrupted ${DUMP_ATTEMPTS} times by table changes; ${deleted} entr(ies) deleted`);
  }
}
