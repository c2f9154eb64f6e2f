import { MAX_TCP_NEW_PER_SECOND } from '@pgw/domain';

/**
 * The agent's environment in the relay benches: one client opens connections back to back, about
 * a thousand a second, which is what flow 25's default rate per client allows (docs/SECURITY.md):
 * a SYN it dropped would add a second to a try. Redsocks, measured beside pgw, has no such limit;
 * these benches measure the relay, so the rate is set to its highest.
 */
export const BENCH_AGENT_ENV = { PGW_TCP_NEW_PER_CLIENT: String(MAX_TCP_NEW_PER_SECOND) } as const;
