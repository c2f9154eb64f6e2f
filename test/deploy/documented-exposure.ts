/**
 * docs/DEPLOYMENT.md's units table, column "exposure": the highest `systemd-analyze security` score
 * each unit may have on a running machine. The systemd test compares the live scores with this
 * table, so the document and the test cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../e2e/dataplane-harness.js';

const DOC = join(REPO, 'docs/DEPLOYMENT.md');

/** unit -> documented exposure, from the table whose header starts with `| unit |` and has an "exposure" column. */
export function documentedExposure(markdown = readFileSync(DOC, 'utf8')): Map<string, number> {
  const lines = markdown.split('\n');
  const cells = (line: string) => line.trim().replace(/^\||\|$/g, '').split('|').map((c) => c.trim());
  const header = lines.findIndex((l) => /^\|\s*unit\s*\|/.test(l) && /exposure/.test(l));
  if (header < 0) throw new Error(`${DOC}: no units table with an "exposure" column`);
  const column = cells(lines[header]!).findIndex((c) => c.startsWith('exposure'));
  const exposure = new Map<string, number>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const row = cells(line);
    const unit = /^`(pgw-[a-z]+\.service)`$/.exec(row[0] ?? '')?.[1];
    if (unit === undefined) continue;
    const value = /^(\d+\.\d)\b/.exec(row[column] ?? '')?.[1];
    if (value === undefined) throw new Error(`${DOC}: ${unit} has no exposure figure ("${row[column]}")`);
    exposure.set(unit, Number(value));
  }
  return exposure;
}
