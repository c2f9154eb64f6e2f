import { type NetlinkProtocol, netlinkTalk } from '@pgw/original-dst';
import { chainsDumpRequest, NFPROTO_INET, parseChainNames } from './nftnetlink.js';
import { linkRequest, type NeighbourRow, neighboursDumpRequest, parseLinkIndex, parseNeighbours, parseRoutes, parseRules, type RouteEntry, type RoutingRule, routesDumpRequest, rulesDumpRequest } from './rtnetlink.js';
import { DumpInterrupted } from './wire.js';

/**
 * Reads of the kernel's tables in the agent's network namespace over netlink: no child process,
 * so the once-a-second assertions cost the agent no fork (docs/benchmarks.md, the idle footprint).
 */
let seq = Date.now() >>> 0;
const next = () => (seq = (seq + 1) >>> 0);
/** A dump the table's changes interrupted is taken again, at most this many times in all. */
const DUMP_ATTEMPTS = 3;

/** One dump, read again when a change of the table interrupted it (a row may be missing then). */
async function dump<T>(protocol: NetlinkProtocol, request: () => Buffer, parse: (answer: Buffer) => T): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return parse(await netlinkTalk(protocol, request(), 1));
    } catch (error) {
      if (!(error instanceof DumpInterrupted) || attempt === DUMP_ATTEMPTS) throw error;
    }
  }
}

export async function readRules(): Promise<RoutingRule[]> {
  return dump('route', () => rulesDumpRequest(next()), parseRules);
}

export async function readRoutes(table: number): Promise<RouteEntry[]> {
  return (await dump('route', () => routesDumpRequest(next()), parseRoutes)).filter((r) => r.table === table);
}

/** The chain names of table inet `table`; none when it is absent. */
export async function readInetChainNames(table: string): Promise<string[]> {
  return dump('netfilter', () => chainsDumpRequest(NFPROTO_INET, next()), (answer) => parseChainNames(answer, table));
}

/** The IPv4 neighbour entries of interface `name` (its index asked each time: an interface re-created gets a new one). */
export async function readNeighbours(name: string): Promise<NeighbourRow[]> {
  const ifindex = parseLinkIndex(await netlinkTalk('route', linkRequest(name, next()), 1), name);
  return dump('route', () => neighboursDumpRequest(ifindex, next()), (answer) => parseNeighbours(answer, ifindex));
}
