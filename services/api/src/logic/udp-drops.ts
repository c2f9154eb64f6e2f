import type { InterceptMode } from '@pgw/domain';
import type { ForwarderStatus } from '@pgw/events';
import type { MappingUdpDropped } from '../contract/types.js';

/** Mapping id -> why its client's UDP is dropped. */
export type UdpDrops = ReadonlyMap<number, NonNullable<MappingUdpDropped>>;

/**
 * Per mapping, why its client's UDP is dropped, from the forwarder status record's `udp.dropped`
 * (already parsed with @pgw/events' schema by the component-status reader). Only in TPROXY mode:
 * in DNAT mode the kernel drops all client UDP and a record left from a TPROXY period would say
 * something no longer true. A key that is not a mapping id is skipped.
 */
export function udpDropsOf(forwarder: ForwarderStatus | null, mode: InterceptMode): UdpDrops {
  const drops = new Map<number, NonNullable<MappingUdpDropped>>();
  if (mode !== 'tproxy' || !forwarder?.udp) return drops;
  for (const [key, { reason, detail, datagrams }] of Object.entries(forwarder.udp.dropped)) {
    const mappingId = Number(key);
    if (Number.isSafeInteger(mappingId) && mappingId > 0 && String(mappingId) === key) drops.set(mappingId, { reason, detail, datagrams });
  }
  return drops;
}
