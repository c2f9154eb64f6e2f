/**
 * What a proxy sent, as errors and logs show it: printable ASCII only (a newline or an escape
 * sequence would forge log lines and reach the console), at most `max` characters.
 */
export function shownText(text: string, max: number): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?');
  return printable.length <= max ? printable : `${printable.slice(0, max)}...`;
}
