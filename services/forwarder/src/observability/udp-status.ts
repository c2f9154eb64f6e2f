import type { ForwarderStatusRecord } from '@pgw/events/contracts';
import type { UdpClientProblem } from '../udp/udp-relay.js';

/** The status record's `udp` part: open flows, and per mapping why its client's UDP is dropped. */
export function udpStatus(flows: number, problems: ReadonlyMap<number, UdpClientProblem>): NonNullable<ForwarderStatusRecord['udp']> {
  const dropped: Record<string, UdpClientProblem> = {};
  for (const [mappingId, problem] of problems) dropped[String(mappingId)] = { reason: problem.reason, detail: problem.detail, datagrams: problem.datagrams };
  return { flows, dropped };
}
