/** Bytes, rates and quota progress as the console shows them (decimal units, as the api counts: 1 MB = 10^6 bytes). */
const BYTE_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 || value >= 100 ? Math.round(value) : value.toFixed(1).replace(/\.0$/, '')} ${BYTE_UNITS[unit]}`;
}

/** A limit in kbit/s; null: unlimited. */
export function formatRate(kbit: number | null): string {
  if (kbit === null) return 'unlimited';
  return kbit >= 1000 ? `${+(kbit / 1000).toFixed(1)} Mbit/s` : `${kbit} kbit/s`;
}

/** Both limits in one short cell: "↓50M ↑20M bit/s" (∞: unlimited that way). */
export function formatRatePair(down: number | null, up: number | null): string {
  const short = (kbit: number | null) => (kbit === null ? '∞' : kbit >= 1000 ? `${+(kbit / 1000).toFixed(1)}M` : `${kbit}k`);
  return `↓${short(down)} ↑${short(up)} bit/s`;
}

/** Used of quota in the quota's unit: "10.5/10 MB"; "?" when the count is unknown. */
export function formatQuotaPair(used: number | null, limit: number): string {
  const [limitText, unit] = formatBytes(limit).split(' ') as [string, string];
  const scale = limit / Number(limitText);
  const usedText = used === null ? '?' : `${+(used / scale).toFixed(1)}`;
  return `${usedText}/${limitText} ${unit}`;
}

/** The form's download/upload field (Mbit/s, decimals allowed) -> the api's kbit/s; '' -> null (unlimited). */
export function parseRateMbit(text: string): number | null | 'invalid' {
  const t = text.trim();
  if (t === '') return null;
  if (!/^\d+(\.\d{1,3})?$/.test(t)) return 'invalid';
  return Math.round(Number(t) * 1000);
}

/** The form's quota field (GB, decimals allowed down to the byte: a quota stored to the byte is shown so) -> bytes; '' -> null (no quota). */
export function parseQuotaGb(text: string): number | null | 'invalid' {
  const t = text.trim();
  if (t === '') return null;
  if (!/^\d+(\.\d{1,9})?$/.test(t)) return 'invalid';
  return Math.round(Number(t) * 1e9);
}

/** The api's values back into the form's units. */
export const rateToMbitField = (kbit: number | null) => (kbit === null ? '' : String(kbit / 1000));
export const quotaToGbField = (bytes: number | null) => (bytes === null ? '' : String(bytes / 1e9));

/** The share of the quota used, 0..1 (capped), or null when unknown. */
export function quotaShare(used: number | null, limit: number | null): number | null {
  if (used === null || limit === null || limit <= 0) return null;
  return Math.min(1, used / limit);
}
