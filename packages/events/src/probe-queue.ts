/** The BullMQ contract between the api (on-demand probes, the mapping health gate) and the health service. */
export const PROBE_QUEUE = 'pgw-probes';

import type { ProbeTrigger } from '@pgw/domain';

export type { ProbeTrigger };

export interface ProbeJobData {
  readonly proxyId: number;
  readonly trigger: ProbeTrigger;
}

/** A job's return value: what the probe saw through the proxy. */
export interface ProbeResult {
  readonly proxyId: number;
  readonly ok: boolean;
  readonly latencyMs: number | null;
  readonly exitIp: string | null;
  readonly error: string | null;
  readonly checkedAt: string;
}
