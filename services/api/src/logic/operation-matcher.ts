/**
 * Resolves a request (method + raw request target) to exactly one operation of API_SPEC.yaml, or
 * says why it is none. This is the only place that decides which operation a request is: access
 * rules, the latency metric and the validator bypass all read the operation it returns, so there is
 * no second path pattern that could disagree with it.
 *
 * Matching is on the raw target, exactly: literal segments compare case-sensitively, byte for byte,
 * with no percent-decoding, slash collapsing or dot-segment removal, so every other spelling of a
 * path (/API/v1/users, //api/v1/users, /api/v1/users/, /api/%761/users, /api;x/v1/users) is no
 * operation at all. A path parameter must be a canonical value of its schema's type and pattern.
 */
export interface ApiOperation {
  readonly operationId: string;
  /** Upper case, as in the request line. */
  readonly method: string;
  /** The spec's path template, e.g. /api/v1/users/{id}. */
  readonly template: string;
  /**
   * Literal path, no request body, only optional query parameters: called without a query string
   * and without a body, the OpenAPI validator has nothing to check, so the api skips it (speed).
   */
  readonly plain: boolean;
}

export type Resolution =
  | { readonly kind: 'operation'; readonly operation: ApiOperation }
  /** The path is an operation's, but not with this method. */
  | { readonly kind: 'method_not_allowed'; readonly allowed: readonly string[] }
  /** The path has an operation's shape, but a parameter is not a value of its schema. */
  | { readonly kind: 'bad_parameter'; readonly parameter: string; readonly message: string }
  | { readonly kind: 'none' };

export interface OperationMatcher {
  resolve(method: string, target: string): Resolution;
  /** First segments of the spec's paths, lower case (api, healthz, ...): the api owns every spelling of these. */
  readonly prefixes: ReadonlySet<string>;
  readonly operations: readonly ApiOperation[];
}

interface Schema {
  $ref?: string;
  type?: string;
  pattern?: string;
}
interface Parameter {
  $ref?: string;
  name?: string;
  in?: string;
  required?: boolean;
  schema?: Schema;
}
interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: unknown;
}
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const;
type PathItem = Partial<Record<(typeof METHODS)[number], Operation>> & { parameters?: Parameter[] };
export interface SpecPaths {
  paths: Record<string, PathItem>;
  components?: { parameters?: Record<string, Parameter>; schemas?: Record<string, Schema> };
}

/** Canonical spellings only: 05, +5 or 5.0 would be other spellings of the same id. */
const INTEGER = /^(0|-?[1-9][0-9]*)$/;
const NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;
/** A string parameter without a pattern: unreserved characters, which need no decoding. */
const UNRESERVED = /^[A-Za-z0-9._~-]+$/;
const PATH_SYNTAX = new Set(['', '.', '..']);

type Segment = { literal: string } | { parameter: string; check: (value: string) => string | null };
interface Route {
  template: string;
  segments: Segment[];
  byMethod: Map<string, ApiOperation>;
}

function ref<T>(spec: SpecPaths, value: T & { $ref?: string }, kind: 'parameters' | 'schemas'): T {
  if (!value.$ref) return value;
  const name = value.$ref.replace(`#/components/${kind}/`, '');
  const target = spec.components?.[kind]?.[name] as T | undefined;
  if (!target || name === value.$ref) throw new Error(`API_SPEC.yaml: cannot resolve ${value.$ref}`);
  return target;
}

/** A check for one path parameter's raw segment: null when it is a value of the schema, else why not. */
function parameterCheck(spec: SpecPaths, template: string, parameter: Parameter): (value: string) => string | null {
  const schema = ref(spec, parameter.schema ?? {}, 'schemas');
  if (schema.type === 'integer') return (v) => (INTEGER.test(v) ? null : 'must be an integer (decimal digits, no leading zero or sign)');
  if (schema.type === 'number') return (v) => (NUMBER.test(v) ? null : 'must be a number');
  if (schema.type === 'string') {
    const pattern = schema.pattern ? new RegExp(schema.pattern, 'u') : null;
    return (v) => (!UNRESERVED.test(v) ? 'may only contain A-Z a-z 0-9 . _ ~ -' : pattern && !pattern.test(v) ? `must match ${schema.pattern}` : null);
  }
  // Deny by default: a parameter the matcher cannot check keeps the api from starting.
  throw new Error(`API_SPEC.yaml: ${template} parameter ${parameter.name}: type ${schema.type} is not supported in paths`);
}

function compileRoute(spec: SpecPaths, template: string, item: PathItem): Route {
  const resolve = (p: Parameter) => ref(spec, p, 'parameters');
  const pathParameters = new Map((item.parameters ?? []).map(resolve).filter((p) => p.in === 'path').map((p) => [p.name, p]));
  const byMethod = new Map<string, ApiOperation>();
  for (const method of METHODS) {
    const operation = item[method];
    if (!operation) continue;
    if (!operation.operationId) throw new Error(`API_SPEC.yaml: ${method.toUpperCase()} ${template} has no operationId`);
    const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map(resolve);
    for (const p of parameters) if (p.in === 'path') pathParameters.set(p.name, p);
    const plain = !template.includes('{') && !operation.requestBody && parameters.every((p) => p.in === 'query' && !p.required);
    byMethod.set(method.toUpperCase(), { operationId: operation.operationId, method: method.toUpperCase(), template, plain });
  }
  const segments = template
    .split('/')
    .slice(1)
    .map((segment): Segment => {
      const name = /^\{([^}]+)\}$/.exec(segment)?.[1];
      if (name === undefined) {
        if (segment.includes('{')) throw new Error(`API_SPEC.yaml: ${template}: a parameter must be a whole segment`);
        return { literal: segment };
      }
      const parameter = pathParameters.get(name);
      if (!parameter) throw new Error(`API_SPEC.yaml: ${template}: path parameter ${name} is not declared`);
      return { parameter: name, check: parameterCheck(spec, template, parameter) };
    });
  return { template, segments, byMethod };
}

export function compileOperations(spec: SpecPaths): OperationMatcher {
  const routes = Object.entries(spec.paths).map(([template, item]) => compileRoute(spec, template, item));
  const literal = new Map(routes.filter((r) => !r.template.includes('{')).map((r) => [r.template, r]));
  // Most literal segments first: /mappings/export is an operation of its own, not /mappings/{id}.
  const templated = routes
    .filter((r) => r.template.includes('{'))
    .sort((a, b) => b.segments.filter((s) => 'literal' in s).length - a.segments.filter((s) => 'literal' in s).length);

  const inRoute = (route: Route, method: string): Resolution => {
    const operation = route.byMethod.get(method);
    return operation ? { kind: 'operation', operation } : { kind: 'method_not_allowed', allowed: [...route.byMethod.keys()] };
  };

  return {
    prefixes: new Set(routes.map((r) => r.template.split('/')[1]!.toLowerCase())),
    operations: routes.flatMap((r) => [...r.byMethod.values()]),
    resolve(method, target) {
      const query = target.indexOf('?');
      const path = query === -1 ? target : target.slice(0, query);
      const exact = literal.get(path);
      if (exact) return inRoute(exact, method);
      // Origin-form only ("/..."): absolute-form and "*" targets name no operation.
      if (!path.startsWith('/')) return { kind: 'none' };
      const parts = path.split('/').slice(1);
      let badParameter: Resolution | undefined;
      for (const route of templated) {
        // The shape: same number of segments, literals equal, and no parameter that is path syntax
        // (empty: a trailing or double slash; a dot segment) rather than a value.
        if (route.segments.length !== parts.length) continue;
        if (!route.segments.every((s, i) => ('literal' in s ? s.literal === parts[i] : !PATH_SYNTAX.has(parts[i]!)))) continue;
        const problem = route.segments.map((s, i) => ('check' in s ? { parameter: s.parameter, message: s.check(parts[i]!) } : null)).find((p) => p?.message);
        if (!problem) return inRoute(route, method);
        badParameter ??= { kind: 'bad_parameter', parameter: problem.parameter, message: problem.message! };
      }
      return badParameter ?? { kind: 'none' };
    },
  };
}
