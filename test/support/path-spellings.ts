/**
 * Other spellings of one request path: what a lenient router, a URL normaliser or a proxy might take
 * for the same resource. Each names how it differs, so a failure says which spelling got through.
 * The path given is concrete (parameters filled in), e.g. /api/v1/users/5.
 */
export interface Spelling {
  path: string;
  why: string;
}

const title = (s: string) => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();
/** pRoXiEs: differs from lower, upper and title case. */
const mixed = (s: string) => [...s].map((c, i) => (i % 2 ? c.toUpperCase() : c.toLowerCase())).join('');
const hex = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;

export function pathSpellings(path: string): Spelling[] {
  const segments = path.split('/').slice(1);
  const n = segments.length;
  const join = (parts: string[]) => `/${parts.join('/')}`;
  const withSegment = (i: number, value: string) => join(segments.map((s, j) => (j === i ? value : s)));
  /** The path with `separator` instead of the slash before segment i (1..n-1). */
  const withBoundary = (i: number, separator: string) => `/${segments.slice(0, i).join('/')}${separator}${segments.slice(i).join('/')}`;
  const out: Spelling[] = [];
  const add = (spelled: string, why: string) => {
    if (spelled !== path && !out.some((s) => s.path === spelled)) out.push({ path: spelled, why });
  };

  add(path.toUpperCase(), 'all upper case');
  segments.forEach((segment, i) => {
    const letter = segment.search(/[a-z]/i);
    if (letter >= 0) {
      add(withSegment(i, segment.toUpperCase()), `segment ${i + 1} upper case`);
      add(withSegment(i, title(segment)), `segment ${i + 1} title case`);
      add(withSegment(i, mixed(segment)), `segment ${i + 1} mixed case`);
      add(withSegment(i, segment.slice(0, letter) + hex(segment[letter]!) + segment.slice(letter + 1)), `segment ${i + 1} with a percent-encoded letter`);
    }
    if (/^[0-9]+$/.test(segment)) {
      add(withSegment(i, `0${segment}`), `segment ${i + 1} with a leading zero`);
      add(withSegment(i, `+${segment}`), `segment ${i + 1} with a plus sign`);
    }
    add(withSegment(i, [...segment].map(hex).join('')), `segment ${i + 1} fully percent-encoded`);
    add(withSegment(i, `${segment};x`), `segment ${i + 1} with a ; parameter`);
    add(withSegment(i, `${segment};a=b`), `segment ${i + 1} with a ;a=b parameter`);
    add(withSegment(i, `${segment}%00`), `segment ${i + 1} with a NUL byte`);
    add(withSegment(i, `${segment}%2e`), `segment ${i + 1} with an encoded trailing dot`);
  });
  for (let i = 1; i < n; i++) {
    add(withBoundary(i, '//'), `double slash before segment ${i + 1}`);
    add(withBoundary(i, '%2F'), `%2F for the slash before segment ${i + 1}`);
    add(withBoundary(i, '%2f'), `%2f for the slash before segment ${i + 1}`);
    add(withBoundary(i, '\\'), `backslash for the slash before segment ${i + 1}`);
    add(withBoundary(i, '/./'), `/./ before segment ${i + 1}`);
    add(withBoundary(i, '/%2e/'), `/%2e/ before segment ${i + 1}`);
    add(withBoundary(i, `/${segments[i - 1]}/../`), `segment ${i} repeated and undone with /../`);
    add(withBoundary(i, '/x/%2e%2e/'), `/x/%2e%2e/ before segment ${i + 1}`);
    add(withBoundary(i, ';/'), `empty ; parameter before segment ${i + 1}`);
  }
  add(`${path}/`, 'trailing slash');
  add(`${path}//`, 'two trailing slashes');
  add(`/${path}`, 'leading //');
  add(`//${path}`, 'leading ///');
  add(`/.${path}`, 'leading /./');
  add(`${path}/.`, 'trailing /.');
  add(`${path}%00`, 'trailing NUL byte');
  add(`${path}%20`, 'trailing encoded space');
  add(`${path}#x`, 'fragment');
  add(`http://127.0.0.1${path}`, 'absolute-form request target');
  add(`http://127.0.0.1${path.toUpperCase()}`, 'absolute-form request target, upper case');
  return out;
}
