import { withDeadline } from '@pgw/runtime';
import type pg from 'pg';

/** The Postgres roles the services log in as (migration 0002 creates and grants them). */
export const SERVICE_ROLES = ['pgw_api', 'pgw_health', 'pgw_agent', 'pgw_forwarder'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/** What a session's login may do beyond its service role's grants. */
export interface LoginFacts {
  /** session_user: who logged in (the URL's `options` may set another role for the session). */
  readonly login: string;
  /** current_user is the login: no role set by the URL's options. */
  readonly sameUser: boolean;
  readonly superuser: boolean;
  readonly createRole: boolean;
  readonly createDb: boolean;
  readonly bypassRls: boolean;
  /** Every role the login is a member of, directly or not, whatever INHERIT says (SET ROLE reaches them). */
  readonly memberOf: readonly string[];
  /** Is, or may become, the owner of pgw's tables (the role migrations run as). */
  readonly owner: boolean;
}

/**
 * Why a login must not serve as `role`, or null. An owner's or superuser's URL copied into a
 * service's env file ran that service with every privilege: the grants of migration 0002 on were
 * then no layer at all, and nothing said so. A login serves when it is the role, or a member of it
 * and of nothing else (a second membership is a way to more: SET ROLE to a superuser role, a
 * NOINHERIT role in between, pg_read_all_data).
 */
export function serviceRoleProblem(facts: LoginFacts, role: ServiceRole): string | null {
  const as = `PGW_DATABASE_URL logs in as "${facts.login}"`;
  const fix = `give this service a login of its own role ${role} (docs/DEPLOYMENT.md): nothing was read or written`;
  const powers = [facts.superuser && 'superuser', facts.createRole && 'CREATEROLE', facts.createDb && 'CREATEDB', facts.bypassRls && 'BYPASSRLS'].filter(Boolean);
  if (powers.length > 0) return `${as}, which holds ${powers.join(', ')}: ${fix}`;
  if (!facts.sameUser) return `${as} and sets another role in its options: ${fix}`;
  if (facts.owner) return `${as}, which owns pgw's tables (the migrations' role): ${fix}`;
  if (facts.login !== role && !facts.memberOf.includes(role)) return `${as}, which is not ${role} nor a member of it: ${fix}`;
  const others = facts.memberOf.filter((other) => other !== role);
  if (others.length > 0) return `${as}, which also holds ${others.join(', ')}: ${fix}`;
  return null;
}

const CHECK_DEADLINE_MS = 5_000;

/** The facts of the session's login, read on that connection. */
export async function readLoginFacts(client: Pick<pg.ClientBase, 'query'>): Promise<LoginFacts> {
  // Bounded: a check Postgres never answers would hold its pool client (the caller drops the client).
  const { rows } = await withDeadline(
    client.query<Omit<LoginFacts, 'owner'> & { owner: boolean | null }>(
      `SELECT r.rolname AS login, session_user = current_user AS "sameUser", r.rolsuper AS "superuser", r.rolcreaterole AS "createRole",
              r.rolcreatedb AS "createDb", r.rolbypassrls AS "bypassRls",
              ARRAY(SELECT m.rolname::text FROM pg_roles m WHERE m.oid <> r.oid AND pg_has_role(r.oid, m.oid, 'MEMBER') ORDER BY 1) AS "memberOf",
              (SELECT pg_has_role(r.oid, c.relowner, 'MEMBER') FROM pg_class c WHERE c.oid = to_regclass('public.proxies')) AS owner
         FROM pg_roles r WHERE r.rolname = session_user`,
    ),
    CHECK_DEADLINE_MS,
    `the login check got no answer within ${CHECK_DEADLINE_MS} ms`,
  );
  const row = rows[0];
  if (row === undefined) throw new Error('the login of this session is not in pg_roles');
  return { ...row, owner: row.owner ?? false };
}

/** Thrown instead of serving a query on a login that holds more than its service role. */
export class ServiceRoleError extends Error {
  override readonly name = 'ServiceRoleError';
}
