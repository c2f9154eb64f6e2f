/**
 * Bundles the services (all, or those named) into services/<name>/bundle/: `npm run build` runs it
 * after tsc. How and why: lab/service-bundles.ts.
 *
 * Usage: node --import tsx scripts/bundle-services.ts [agent|forwarder|health|api ...]
 */
import { BUNDLED_SERVICES, type BundledService, bundleEntry, bundleService } from '../lab/service-bundles.js';

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
