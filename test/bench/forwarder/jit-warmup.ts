/**
 * Untimed connections through a forwarder before a bench first measures its path: V8 compiles the
 * connection path's JavaScript after a few hundred connections, which a gateway does in its first
 * seconds (start-up is bench:restart's and bench:reboot's). Without them a bench measures the
 * compiler too (session 28: round 1's pgw p50 0.79-1.06 ms against 0.41-0.63 after), and an A/B of
 * two freshly started forwarders compares two cold ones: the variant that runs less JavaScript wins
 * (session 29: variants.ts with 30 found the warm pool slower, bench:forwarder found it faster).
 */
export const FORWARDER_WARMUP = 1_000;
