/** The lowest port in [min, max] not in `used`, or null when the range is full. */
export function lowestFreePort(min: number, max: number, used: Iterable<number>): number | null {
  const taken = new Set(used);
  for (let port = min; port <= max; port++) if (!taken.has(port)) return port;
  return null;
}

/**
 * The lowest free ports of [min, max], one after another, as ports are taken: the same answers as
 * lowestFreePort after each allocation, in one pass over the range for all of them (taken only
 * grows, so the lowest free port never moves down).
 */
export class FreePorts {
  private cursor: number;

  constructor(
    min: number,
    private readonly max: number,
    /** Taken ports (the caller's, which next() adds to as well). */
    private readonly taken: { has(port: number): boolean },
  ) {
    this.cursor = min;
  }

  /** The lowest port not taken and not given before; null when the range is full. */
  next(): number | null {
    while (this.cursor <= this.max && this.taken.has(this.cursor)) this.cursor++;
    return this.cursor <= this.max ? this.cursor++ : null;
  }
}
