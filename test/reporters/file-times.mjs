// A node:test reporter that prints where a run's time went: the time per group and the slowest test
// files, each timed from the end of the file before it (the first from the run's start) to its own
// last event. scripts/test.sh runs one file at a time, so that span holds the file's process start,
// hooks and tests. (TAP carries no file names.)
const SHOWN = 20;

export default async function* fileTimes(source) {
  const startedAt = Date.now();
  const lastSeen = new Map();
  for await (const event of source) {
    const file = event.data?.file;
    if (file) {
      lastSeen.delete(file); // keep insertion order = order of each file's last event
      lastSeen.set(file, Date.now());
    }
  }
  const spans = [];
  let previous = startedAt;
  for (const [file, at] of lastSeen) {
    spans.push([at - previous, file]);
    previous = at;
  }
  spans.sort((a, b) => b[0] - a[0]);
  const root = process.cwd() + '/';
  const relative = (file) => (file.startsWith(root) ? file.slice(root.length) : file);
  const byGroup = new Map();
  for (const [ms, file] of spans) {
    const group = file.endsWith('.spec.ts') ? 'unit specs' : (/^test\/[^/]+/.exec(relative(file))?.[0] ?? 'other');
    byGroup.set(group, (byGroup.get(group) ?? 0) + ms);
  }
  yield `time per group (s): ${[...byGroup].map(([g, ms]) => `${g} ${(ms / 1000).toFixed(0)}`).join(', ')}\n`;
  yield `slowest test files (s, each from the previous file's end):\n`;
  for (const [ms, file] of spans.slice(0, SHOWN)) {
    yield `${(ms / 1000).toFixed(1).padStart(8)}  ${relative(file)}\n`;
  }
}
