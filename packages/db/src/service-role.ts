import type pg from 'pg';

/** The Postgres roles the services log in as (migration 0002 creates and grants them). */
export const SERVICE_ROLES = ['pgw_api', 'pgw_health', 'pgw_agent', 'pgw_forwarder'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];

/** What a session's login may do beyond its service role's grants. */
export interface LoginFacts {
  readonly login: string;
  readonly superuser: boolean;
  readonly createRole: boolean;
  readonly createDb: boolean;
  readonly bypassRls: boolean;
  /** Holds the service role's privileges (is it, or a member of it). */
  readonly inRole: boolean;
  /** The other service roles whose privileges it holds too. */
  readonly otherRoles: readonly string[];
  /** Holds the privileges of the owner of pgw's tables (the role migrations run as). */
  readonly owner: boolean;
}

/**
 * Why a login must not serve as `role`, or null. An owner's or superuser's URL copied into a
 * service's env file ran that service with every privilege: the grants of migration 0002 on were
 * then no layer at all, and nothing said so.
 */
export function serviceRoleProblem(facts: LoginFacts, role: ServiceRole): string | null {
  const as = `PGW_DATABASE_URL logs in as "${facts.login}"`;
  const fix = `give this service a login of its own role ${role} (docs/DEPLOYMENT.md): nothing was read or written`;
  const powers = [facts.superuser && 'superuser', facts.createRole && 'CREATEROLE', facts.createDb && 'CREATEDB', facts.bypassRls && 'BYPASSRLS'].filter(Boolean);
  if (powers.length > 0) return `${as}, which holds ${powers.join(', ')}: ${fix}`;
  if (facts.owner) return `${as}, which owns pgw's tables (the migrations' role): ${fix}`;
  if (!facts.inRole) return `${as}, which is not ${role} nor a member of it: ${fix}`;
  if (facts.otherRoles.length > 0) return `${as}, which also holds ${facts.otherRoles.join(', ')}: ${fix}`;
  return null;
}

/** The facts of the session's login, read on that connection. */
export async function readLoginFacts(client: Pick<pg.ClientBase, 'query'>, role: ServiceRole): Promise<LoginFacts> {
  const { rows } = await client.query<{ login: string; superuser: boolean; createRole: boolean; createDb: boolean; bypassRls: boolean; inRole: boolean; otherRoles: string[]; owner: boolean | null }>(
    `SELECT r.rolname AS login, r.rolsuper AS "superuser", r.rolcreaterole AS "createRole", r.rolcreatedb AS "createDb", r.rolbypassrls AS "bypassRls",
            EXISTS (SELECT 1 FROM pg_roles s WHERE s.rolname = $1 AND pg_has_role(r.oid, s.oid, 'USAGE')) AS "inRole",
            ARRAY(SELECT s.rolname::text FROM pg_roles s WHERE s.rolname = ANY($2::text[]) AND s.rolname <> $1 AND pg_has_role(r.oid, s.oid, 'USAGE') ORDER BY 1) AS "otherRoles",
            (SELECT pg_has_role(r.oid, c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = to_regclass('public.proxies')) AS owner
       FROM pg_roles r WHERE r.rolname = current_user`,
    [role, SERVICE_ROLES],
  );
  const row = rows[0];
  if (row === undefined) throw new Error('the login of this session is not in pg_roles');
  return { ...row, owner: row.owner ?? false };
}

/** Thrown instead of serving a query on a login that holds more than its service role. */
export class ServiceRoleError extends Error {
  override readonly name = 'ServiceRoleError';
}
