import { createHash } from 'node:crypto';
import type { Settings } from '@pgw/domain';

/**
 * The version of the settings as stored, an HTTP entity tag: GET gives it, a PUT's If-Match must
 * name it. Of the content (keys sorted), so any change by anyone, through the api or not, is a
 * new version; a save that changed nothing keeps it.
 */
export function settingsVersion(settings: Settings): string {
  const canonical = JSON.stringify(Object.fromEntries(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  return `"${createHash('sha256').update(canonical).digest('base64url').slice(0, 22)}"`;
}

/** Whether an If-Match header names `version` (a list, a weak tag or `*` as RFC 9110 allows). */
export function ifMatchNames(header: string, version: string): boolean {
  return header.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === version;
  });
}
