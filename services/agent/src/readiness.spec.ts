import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicyBuild } from './policy/build-policy.js';
import { PolicyReadiness } from './readiness.js';

const build = {} as PolicyBuild;
const failed = (message: string) => ({ build: null, errors: [{ cause: 'desired_state' as const, message }], tableInForce: false });
const applied = { build, errors: [], tableInForce: true };

describe('PolicyReadiness', () => {
  it('is ready at once when the boot put the state file in force', () => {
    assert.equal(new PolicyReadiness({ policy: {} as never, error: null }).readiness(), null);
  });

  it('is not ready until a run puts a policy in force, and says why meanwhile', () => {
    const r = new PolicyReadiness({ policy: null, error: null });
    assert.equal(r.readiness(), 'no policy in force yet (no state file)');
    r.observe(failed('connect ECONNREFUSED /run/postgresql/.s.PGSQL.5432'));
    assert.equal(r.readiness(), 'no policy in force yet (connect ECONNREFUSED /run/postgresql/.s.PGSQL.5432)');
    r.observe(applied);
    assert.equal(r.readiness(), null);
  });

  it('names an unreadable state file, and stays ready after a later run fails', () => {
    const r = new PolicyReadiness({ policy: null, error: 'unexpected end of JSON input' });
    assert.equal(r.readiness(), 'no policy in force yet (state file not enforced: unexpected end of JSON input)');
    r.observe(applied);
    r.observe(failed('Postgres away'));
    assert.equal(r.readiness(), null);
  });

  it('is not ready while the table is gone and nft does not put it back (only the guard in force), ready again once it does', () => {
    const r = new PolicyReadiness({ policy: {} as never, error: null });
    r.observe({ build, errors: [{ cause: 'nft_apply', message: 'Error: Could not process rule: No such file or directory' }], tableInForce: false });
    assert.equal(r.readiness(), 'the ruleset is not in force, only the guard (Error: Could not process rule: No such file or directory)');
    r.observe(applied);
    assert.equal(r.readiness(), null);
  });
});
