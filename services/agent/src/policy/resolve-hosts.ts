import { lookup } from 'node:dns/promises';
import { type Ipv4, ipv4Schema } from '@pgw/domain';

/** How long a policy run waits for a name it never had an answer for. */
const FIRST_ANSWER_WAIT_MS = 2_000;

type LookupAll = (host: string) => Promise<readonly { address: string }[]>;

interface NameState {
  /** The last answer (none for a failed lookup); null before the first. */
  answer: Ipv4[] | null;
  /** The lookup in flight: at most one per name, whatever the runs ask. */
  pending: Promise<void> | null;
}

/**
 * Proxy hostnames to IPv4 addresses, for strict OUTPUT's set of upstreams: a host that does not
 * resolve maps to none (a resolver's passing failure keeps the last answer). A run gets each name's last answer at once and starts the next lookup, which the next
 * run gets (a changed record is in force one resync later); only a name never asked for before is
 * waited for, up to 2 s. A run used to look every name up afresh and wait for it: a name whose
 * resolver took longer than 2 s was never in the set, every run (a proxy's death among them: the
 * kernel's block) waited 2 s for it, and the lookups given up piled up in libuv's thread pool.
 */
export class ProxyHostResolver {
  private readonly names = new Map<string, NameState>();

  constructor(private readonly lookupAll: LookupAll = (host) => lookup(host, { all: true, family: 4 })) {}

  async resolve(hosts: readonly string[]): Promise<Map<string, Ipv4[]>> {
    const wanted = new Set(hosts.filter((h) => !ipv4Schema.safeParse(h).success));
    for (const name of this.names.keys()) if (!wanted.has(name)) this.names.delete(name);
    const firstAnswers: Promise<void>[] = [];
    for (const name of wanted) {
      let state = this.names.get(name);
      const isNew = state === undefined;
      if (state === undefined) this.names.set(name, (state = { answer: null, pending: null }));
      state.pending ??= this.lookUp(name, state);
      if (isNew) firstAnswers.push(state.pending);
    }
    if (firstAnswers.length > 0) await settledWithin(Promise.all(firstAnswers), FIRST_ANSWER_WAIT_MS);
    return new Map([...wanted].map((name) => [name, this.names.get(name)?.answer ?? []]));
  }

  private async lookUp(name: string, state: NameState): Promise<void> {
    try {
      const found = await this.lookupAll(name);
      state.answer = found.flatMap((a) => (ipv4Schema.safeParse(a.address).success ? [a.address as Ipv4] : []));
    } catch (error) {
      // A name that does not exist (any more) has no address; a resolver that failed for a moment
      // (EAI_AGAIN, a timeout) leaves the last answer: emptied, strict OUTPUT reset every connection
      // to the proxy on that blip.
      const code = (error as NodeJS.ErrnoException).code;
      if (state.answer === null || code === 'ENOTFOUND' || code === 'ENODATA') state.answer = [];
    } finally {
      state.pending = null;
    }
  }
}

function settledWithin(settles: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([settles.then(() => undefined), expired]).finally(() => clearTimeout(timer));
}
