// Every unit spec (`*.spec.ts` beside the code it tests) in one process. Unit specs are pure and
// each one's own process start (Node, tsx, module loading) cost more than its tests: 143 of them
// took ~2 minutes of CI on a 2-core machine. Each file is imported inside a suite named after it,
// so its top-level tests and hooks (a beforeEach, an after) belong to that suite, as they belong to
// the file's own process when it runs alone, and never run around another file's tests.
import { readdirSync } from 'node:fs';
import { describe } from 'node:test';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ROOTS = ['packages', 'services', 'ui', 'lab', 'test'];
const SKIPPED_DIRS = new Set(['node_modules', 'dist', '.git']);

function specsUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED_DIRS.has(entry.name) ? [] : specsUnder(path);
    return entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

const specs = ROOTS.flatMap((root) => specsUnder(join(REPO_ROOT, root))).sort();
if (specs.length === 0) throw new Error(`no *.spec.ts under ${ROOTS.join(', ')} of ${REPO_ROOT}`);
for (const spec of specs) {
  describe(relative(REPO_ROOT, spec), async () => {
    await import(pathToFileURL(spec).href);
  });
}
