import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LoginFacts, serviceRoleProblem } from './service-role.js';

const member: LoginFacts = { login: 'pgw_api_test', sameUser: true, superuser: false, createRole: false, createDb: false, bypassRls: false, memberOf: ['pgw_api'], owner: false };

describe('serviceRoleProblem', () => {
  it('passes the role itself or a member of it that holds nothing more', () => {
    assert.equal(serviceRoleProblem(member, 'pgw_api'), null);
    assert.equal(serviceRoleProblem({ ...member, login: 'pgw_api', memberOf: [] }, 'pgw_api'), null);
  });
  it('names each power beyond the role, the owner, a foreign role and a second service role', () => {
    const cases: [Partial<LoginFacts>, RegExp][] = [
      [{ superuser: true, owner: true }, /"pgw_api_test", which holds superuser: give this service a login of its own role pgw_api/],
      [{ sameUser: false }, /sets another role in its options/],
      [{ createRole: true, bypassRls: true }, /holds CREATEROLE, BYPASSRLS/],
      [{ createDb: true }, /holds CREATEDB/],
      [{ owner: true }, /owns pgw's tables/],
      [{ memberOf: [] }, /is not pgw_api nor a member of it/],
      [{ memberOf: ['pg_read_all_data', 'pgw_api'] }, /also holds pg_read_all_data:/],
      [{ login: 'pgw_api', memberOf: ['pgw_forwarder', 'pgw_health'] }, /also holds pgw_forwarder, pgw_health/],
    ];
    for (const [facts, why] of cases) assert.match(serviceRoleProblem({ ...member, ...facts }, 'pgw_api') ?? '', why, JSON.stringify(facts));
  });
});
