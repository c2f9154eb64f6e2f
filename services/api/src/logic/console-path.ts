/**
 * Letters, digits and - . _ ~ between single slashes: nothing that decodes, collapses or resolves
 * to another path. Each segment after the first follows a slash it needs, so the engine has one way
 * to split a path and runs in linear time (a nested repeat, ([x]+\/?)*, tried every split of a long
 * segment before refusing it: an unauthenticated request stalled the api for minutes).
 */
const CLEAN = /^\/(?:[A-Za-z0-9._~-]+(?:\/[A-Za-z0-9._~-]+)*\/?)?$/;

/**
 * May the console (its files or its SPA fallback) answer this request target? Only a clean path
 * outside the api's prefixes: no percent-encoding, `;`, backslash, NUL, `//`, dot segments or
 * dotfiles, and a first segment that is not, in any letter case, one of the api's (api, healthz,
 * ...). A path that needs no decoding or collapsing is its own normal form, so no spelling of an
 * api path can get the console's 200 instead of the api's answer.
 */
export function isConsolePath(target: string, apiPrefixes: ReadonlySet<string>): boolean {
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  if (!CLEAN.test(path)) return false;
  const segments = path.split('/').slice(1);
  if (segments.some((s) => s.startsWith('.'))) return false;
  return !apiPrefixes.has(segments[0]!.toLowerCase());
}
