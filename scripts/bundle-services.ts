/**
 * Bundles each service's built entry (services/<name>/dist/main.js, from tsc) with its workspace
 * packages and npm dependencies into services/<name>/bundle/ (esbuild; the boot fast paths' dynamic
 * imports stay separate chunks). Why: Node spends most of a service's start resolving and loading
 * modules file by file (zod alone is 95 files); from one bundle a service starts with about half the
 * CPU (measured here: api 1.65 -> 0.67 s, health 1.43 -> 0.50 s, forwarder 0.53 -> 0.30 s until the
 * config check), which is what a rebooted 2-core gateway waits for (docs/benchmarks.md, "Reboot").
 *
 * `npm run build` bundles every service; the lab (tests, demo, benches) checks before each start
 * that a service's bundle is newer than every built file it could contain and rebuilds it when not,
 * so a `tsc -b` after an edit never leaves a stale bundle running.
 *
 * Usage: node --import tsx scripts/bundle-services.ts [agent|forwarder|health|api ...]
 */
import { buildSync } from 'esbuild';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const BUNDLED_SERVICES = ['agent', 'forwarder', 'health', 'api'] as const;
export type BundledService = (typeof BUNDLED_SERVICES)[number];

/**
 * Left to Node's own loader: the native addons load their .node file relative to their package
 * (msgpackr-extract is bullmq's msgpack accelerator), and pg-native is pg's optional native driver
 * (not installed). (Not a `*.node` pattern: some packages name JavaScript files that way, e.g.
 * @jsdevtools/ono's `isomorphic.node.js`.)
 */
const EXTERNAL = ['@pgw/original-dst', 'argon2', 'msgpackr-extract', 'pg-native'];
/** In the bundle folder: the newest build input's mtime when the bundle was made (see bundleIsFresh). */
const STAMP = '.inputs-mtime';
/** A file of an earlier bundle is removed once it is this old: a service started from it has loaded its chunks. */
const KEEP_OLD_MS = 10 * 60_000;

/** The bundle's entry, relative to the repository: what systemd, Compose and the lab run. */
export function bundleEntry(service: BundledService): string {
  return `services/${service}/bundle/main.js`;
}

/**
 * Builds beside services/<service>/bundle/, then moves the new files in, main.js last: a service
 * starting meanwhile runs the old main.js or the new one, and finds either one's chunks (their names
 * carry a hash of their content; the old ones are removed only once they are old). Two processes
 * bundling at once both finish, and the last main.js wins. The bundle sits at the same depth as
 * dist/, so the modules' `new URL('../../../x', import.meta.url)` paths (the guard file, API_SPEC.yaml,
 * the console, the migrations) still point at the same files.
 */
export function bundleService(service: BundledService): void {
  const target = join(REPO_ROOT, 'services', service, 'bundle');
  const staging = `${target}.${process.pid}.tmp`;
  // Taken before the build: a build input written while esbuild reads makes the bundle stale.
  const inputsMtime = newestInputMtimeMs(service);
  rmSync(staging, { recursive: true, force: true });
  try {
    buildSync({
      entryPoints: { main: join(REPO_ROOT, 'services', service, 'dist', 'main.js') },
      outdir: staging,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Error names and log lines keep their classes' and functions' own names.
      keepNames: true,
      logLevel: 'warning',
      external: EXTERNAL,
      // Node 20 has no `navigator` (Node 21 does, userAgent "Node.js/<major>"): the dependencies that
      // sniff for a browser or Cloudflare then try harder, and pg's check constructs a fetch
      // Response, which loads undici: ~35 ms of CPU in every service's start (a health profile),
      // at boot beside the data plane. Each use is such a sniff; all see what Node 21+ shows them.
      define: { navigator: JSON.stringify({ userAgent: 'Node.js/20' }) },
      // The CommonJS dependencies (pg, ioredis, express, winston) call require() for Node's own modules.
      banner: { js: "import { createRequire as __pgwCreateRequire } from 'node:module'; const require = __pgwCreateRequire(import.meta.url);" },
    });
    mkdirSync(target, { recursive: true });
    const built = readdirSync(staging);
    for (const name of built) if (name !== 'main.js') renameSync(join(staging, name), join(target, name));
    renameSync(join(staging, 'main.js'), join(target, 'main.js'));
    writeFileSync(join(staging, STAMP), String(inputsMtime));
    renameSync(join(staging, STAMP), join(target, STAMP));
    removeOldFiles(target, new Set([...built, STAMP]));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Files of earlier bundles (and staging folders a killed build left) once KEEP_OLD_MS old. */
function removeOldFiles(target: string, current: Set<string>): void {
  const cutoff = Date.now() - KEEP_OLD_MS;
  for (const name of readdirSync(target)) {
    const path = join(target, name);
    if (!current.has(name) && statSync(path).mtimeMs < cutoff) unlinkSync(path);
  }
  const parent = join(target, '..');
  for (const name of readdirSync(parent)) {
    const path = join(parent, name);
    if (/^bundle\.\d+\.tmp$/.test(name) && statSync(path).mtimeMs < cutoff) rmSync(path, { recursive: true, force: true });
  }
}

function newestMtimeMs(dir: string, newest = 0): number {
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = newestMtimeMs(path, newest);
    else if (entry.name.endsWith('.js')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The newest mtime of what a bundle is made of: the service's and the workspace packages' built files, the lock file. */
function newestInputMtimeMs(service: BundledService): number {
  let newest = newestMtimeMs(join(REPO_ROOT, 'services', service, 'dist'));
  for (const pkg of readdirSync(join(REPO_ROOT, 'packages'))) newest = newestMtimeMs(join(REPO_ROOT, 'packages', pkg, 'dist'), newest);
  return Math.max(newest, statSync(join(REPO_ROOT, 'package-lock.json')).mtimeMs);
}

/** True when the bundle was made from inputs no older than today's: nothing was built since. */
export function bundleIsFresh(service: BundledService): boolean {
  const target = join(REPO_ROOT, 'services', service, 'bundle');
  if (!existsSync(join(target, 'main.js')) || !existsSync(join(target, STAMP))) return false;
  return Number(readFileSync(join(target, STAMP), 'utf8')) >= newestInputMtimeMs(service);
}

/** Rebuilds the bundle when a build is newer than it; says so, since it takes a second or two. */
export function ensureServiceBundle(service: BundledService): void {
  if (bundleIsFresh(service)) return;
  process.stderr.write(`pgw: bundling ${service} (its build is newer than services/${service}/bundle)\n`);
  bundleService(service);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((name) => !(BUNDLED_SERVICES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    console.error(`bundle-services: unknown service ${unknown.join(', ')} (one of ${BUNDLED_SERVICES.join(', ')})`);
    process.exit(2);
  }
  for (const service of asked.length > 0 ? (asked as BundledService[]) : BUNDLED_SERVICES) {
    const started = performance.now();
    bundleService(service);
    console.log(`bundled ${service} into ${bundleEntry(service)} in ${Math.round(performance.now() - started)} ms`);
  }
}
