import { credentialProblem, parseProxyUrl, proxyEndpointSchema, type ProxyHostPolicy, proxyNameProblem, type ProxyProtocol } from '@pgw/domain';
import type { ProxyUpdate } from '../contract/types.js';
import { conflict, invalid } from './domain-errors.js';

/** A proxy's endpoint as the API receives it (API_SPEC.yaml): `url`, or separate fields. Password plaintext, in memory only. */
export type ProxyInput = Pick<ProxyUpdate, 'url' | 'protocol' | 'host' | 'port' | 'username' | 'password'>;

export interface EndpointChange {
  protocol?: ProxyProtocol;
  host?: string;
  port?: number;
  username?: string | null;
  /** undefined: keep the stored password; null: clear it; string: set it. */
  password?: string | null;
}

const ENDPOINT_FIELDS = ['protocol', 'host', 'port', 'username', 'password'] as const;

/**
 * Turns create/update input into endpoint fields, validated with the domain rules. On create every
 * endpoint field is required (from the URL or given separately). A host where no proxy may be
 * (loopback, link-local, the LAN, ...: `hosts`) is refused naming the field it came from.
 */
export function endpointFromInput(input: ProxyInput, mode: 'create' | 'update', hosts: ProxyHostPolicy): EndpointChange {
  const change = parseEndpoint(input, mode);
  const problem = change.host === undefined ? null : hosts.problem(change.host);
  if (problem !== null) {
    const field = input.url !== undefined ? 'url' : 'host';
    throw invalid(field, `${field}: ${problem.message}`);
  }
  return change;
}

function parseEndpoint(input: ProxyInput, mode: 'create' | 'update'): EndpointChange {
  if (input.url !== undefined) {
    const mixed = ENDPOINT_FIELDS.find((f) => input[f] !== undefined);
    if (mixed) throw invalid(mixed, `${mixed} cannot be combined with url (the url already sets it)`);
    let endpoint;
    try {
      endpoint = parseProxyUrl(input.url);
    } catch (error) {
      throw invalid('url', (error as Error).message);
    }
    return { protocol: endpoint.protocol, host: endpoint.host, port: endpoint.port, username: endpoint.username ?? null, password: endpoint.password ?? null };
  }
  if (mode === 'create') {
    const missing = (['protocol', 'host', 'port'] as const).find((f) => input[f] === undefined);
    if (missing) throw invalid(missing, `${missing} is required (or give the whole proxy as url, e.g. socks5://user:pass@host:1080)`);
  }
  const change: EndpointChange = {};
  for (const field of ENDPOINT_FIELDS) if (input[field] !== undefined) (change as Record<string, unknown>)[field] = input[field];
  const check = proxyEndpointSchema.partial().safeParse({
    ...change,
    username: change.username ?? undefined,
    password: change.password ?? undefined,
  });
  if (!check.success) {
    const issue = check.error.issues[0]!;
    throw invalid(issue.path.join('.'), `${issue.path.join('.')}: ${issue.message}`);
  }
  if (mode === 'create' && change.password && !change.username) throw invalid('password', 'a password needs a username');
  return change;
}

/**
 * A stored password is sent only to the endpoint it was saved for. An edit that moves the proxy
 * (another protocol, host or port) must give the password again, or null to drop it: otherwise the
 * health probe and the forwarder would hand the stored credentials, in plaintext, to whatever the
 * new endpoint is, although the api never shows them to anyone.
 */
export function refuseCredentialMove(stored: { protocol: string; host: string; port: number; hasPassword: boolean }, change: EndpointChange): void {
  if (!stored.hasPassword || change.password !== undefined) return;
  const moved = (['protocol', 'host', 'port'] as const).filter((field) => change[field] !== undefined && change[field] !== stored[field]);
  if (moved.length > 0) throw conflict('password', `password: the proxy moves (${moved.join(', ')}); give its password again, or null to remove it: the stored one goes only to the endpoint it was saved for`);
}

/**
 * Credentials the proxy's protocol cannot carry, judged on the endpoint as it will be stored (the
 * change over `stored` on an edit; a password kept sealed was judged when it was saved). Named by
 * `url` where the change came as one.
 */
export function refuseUncarriableCredentials(change: EndpointChange, input: ProxyInput, stored?: { protocol: ProxyProtocol; username: string | null }): void {
  const protocol = change.protocol ?? stored?.protocol;
  if (protocol === undefined) return;
  const username = change.username !== undefined ? change.username : stored?.username;
  const problem = credentialProblem(protocol, username, change.password);
  if (problem === null) return;
  const field = input.url !== undefined ? 'url' : problem.field;
  throw invalid(field, field === 'url' ? `url ${problem.message}` : problem.message);
}

/** A proxy name the domain refuses (proxyNameProblem): 400 naming `name`. */
export function refuseProxyName(name: string): void {
  const problem = proxyNameProblem(name);
  if (problem !== null) throw invalid('name', problem);
}
