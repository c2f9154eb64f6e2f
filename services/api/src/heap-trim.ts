import type { Server } from 'node:http';
import { getHeapSpaceStatistics } from 'node:v8';
import { measureMemory } from 'node:vm';
import { shouldTrimHeap } from './logic/heap-trim.js';

/**
 * Gives back the heap that start-up (module loading, the OpenAPI validator's spec compile) or a burst
 * of requests made V8 grow: it keeps a 32 MiB young generation and the old-space garbage until its next
 * full GC, which an idle process never runs (~30 MiB of RSS at idle, measured). While requests are rare,
 * one eager vm.measureMemory() runs that full GC; at a low allocation rate V8 then shrinks the young
 * generation. Node prints one ExperimentalWarning for vm.measureMemory the first time.
 */
export function startHeapTrim(server: Server, intervalMs = 10_000): { stop(): void } {
  let requests = 0;
  const count = () => void requests++;
  server.on('request', count);
  const timer = setInterval(() => {
    const young = getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
    const trim = shouldTrimHeap(requests, intervalMs, young);
    requests = 0;
    if (trim) measureMemory({ mode: 'summary', execution: 'eager' }).catch(() => undefined);
  }, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      server.off('request', count);
    },
  };
}
