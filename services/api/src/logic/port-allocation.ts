/** The lowest port in [min, max] not in `used`, or null when the range is full. */
export function lowestFreePort(min: number, max: number, used: Iterable<number>): number | null {
  const taken = new Set(used);
  for (let port = min; port <= max; port++) if (!taken.has(port)) return port;
  return null;
}
