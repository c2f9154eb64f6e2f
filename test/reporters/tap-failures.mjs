// Lists each failed test of the TAP files given, with its diagnostics (location, error, stack), for
// the end of scripts/test.sh: the spec reporter prints a failure where it happened, which in a long
// CI log is far above the last lines anyone (or CI's summary) reads. Suites that failed only
// because a test in them did, and tests cancelled because their suite's hook failed, are left out:
// the test or the hook is listed.
import { readFileSync } from 'node:fs';

const MAX_LINES = 40;
const SKIPPED = new Set(['subtestsFailed', 'cancelledByParent']);

for (const file of process.argv.slice(2)) {
  const lines = readFileSync(file, 'utf8').split('\n');
  for (const [i, line] of lines.entries()) {
    const failed = /^(\s*)not ok \d+ - (.*)$/.exec(line);
    if (failed === null) continue;
    const indent = failed[1].length;
    const block = [];
    // The YAML block: from '---' to '...', two spaces deeper than the 'not ok' line.
    if (lines[i + 1]?.trimEnd() === `${' '.repeat(indent + 2)}---`) {
      for (const next of lines.slice(i + 2)) {
        if (next.trimEnd() === `${' '.repeat(indent + 2)}...`) break;
        block.push(next.slice(indent + 2));
      }
    }
    const failureType = /^failureType: '(\w+)'/m.exec(block.join('\n'))?.[1];
    if (failureType !== undefined && SKIPPED.has(failureType)) continue;
    const shown = block.filter((l) => !/^(duration_ms|code|type):/.test(l) && !/\(?node:[a-z_/]+:\d+/.test(l)).slice(0, MAX_LINES);
    console.log(`✖ ${failed[2]}\n${shown.map((l) => `    ${l}`).join('\n')}`);
  }
}
