/** The young generation V8 starts with; it doubles up to 32 MiB (2 x 16 MiB semi-spaces) under start-up or load. */
const GROWN_YOUNG_GENERATION_BYTES = 8 * 1024 * 1024;
/** Fewer requests than this per second: quiet enough that a full GC costs nothing anyone waits for. */
const QUIET_REQUESTS_PER_SECOND = 1;

/** Trim when the last interval was quiet and V8 still holds a young generation grown by start-up or a burst. */
export function shouldTrimHeap(requestsInInterval: number, intervalMs: number, youngGenerationBytes: number): boolean {
  const quiet = requestsInInterval < (QUIET_REQUESTS_PER_SECOND * intervalMs) / 1000;
  return quiet && youngGenerationBytes >= GROWN_YOUNG_GENERATION_BYTES;
}
