// docker/Dockerfile copies each workspace's manifest before `npm ci` (the dependency layer), by
// name: a workspace added to package.json and not to the Dockerfile would make npm ci fail inside
// the image build, minutes into a deploy. This keeps the two lists equal.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const REPO = new URL('../../', import.meta.url);
const workspaces: string[] = JSON.parse(readFileSync(new URL('package.json', REPO), 'utf8')).workspaces;
const dockerfile = readFileSync(new URL('docker/Dockerfile', REPO), 'utf8');

/** The workspaces the build stage copies before its `npm ci`: `COPY <ws>/package.json <ws>/` or the whole `COPY <ws> <ws>`. */
function copiedBeforeNpmCi(text: string): string[] {
  const head = text.slice(0, text.indexOf('RUN npm ci'));
  assert.ok(head.length < text.length, 'docker/Dockerfile has no `RUN npm ci`');
  return [...head.matchAll(/^COPY (\S+?)(?:\/package\.json)? \1\/?$/gm)].map((m) => m[1]!);
}

describe('docker/Dockerfile dependency layer', () => {
  it('copies the manifest of every workspace of package.json, and of nothing else, before npm ci', () => {
    assert.deepEqual(copiedBeforeNpmCi(dockerfile).sort(), [...workspaces].sort());
  });

  it('notices a workspace missing from the Dockerfile', () => {
    const without = dockerfile.replace(/^COPY services\/api\/package\.json services\/api\/\n/m, '');
    assert.notDeepEqual(copiedBeforeNpmCi(without).sort(), [...workspaces].sort());
  });
});
