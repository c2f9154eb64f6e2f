// Container healthcheck: exits 0 when the URL answers 2xx within 3 s (the images have no curl).
const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: node healthcheck.mjs <url>\n');
  process.exit(2);
}
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
  process.exit(response.ok ? 0 : 1);
} catch (error) {
  process.stderr.write(`healthcheck ${url}: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
