/** What the OpenAPI validator would attach for an operation: the access rules and the latency metric need both. */
export interface PlainOperation {
  readonly operationId: string;
  readonly openApiRoute: string;
}

interface Parameter {
  $ref?: string;
  in?: string;
  required?: boolean;
}
interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: unknown;
}
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
type PathItem = Partial<Record<(typeof METHODS)[number], Operation>> & { parameters?: Parameter[] };
export interface SpecPaths {
  paths: Record<string, PathItem>;
  components?: { parameters?: Record<string, Parameter> };
}

/**
 * Operations on a literal path (no {template}) with no request body and only optional query
 * parameters, keyed "METHOD /path". Called without a query string and without a body, such an
 * operation leaves the validator nothing to check but the route, so the api matches it by a map
 * lookup instead of the validator's per-request regex scan of every path.
 */
export function plainOperations(spec: SpecPaths): Map<string, PlainOperation> {
  const resolve = (p: Parameter): Parameter => (p.$ref ? (spec.components?.parameters?.[p.$ref.replace('#/components/parameters/', '')] ?? { in: 'unresolved' }) : p);
  const plain = new Map<string, PlainOperation>();
  for (const [path, item] of Object.entries(spec.paths)) {
    if (path.includes('{')) continue;
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation?.operationId || operation.requestBody) continue;
      const parameters = [...(item.parameters ?? []), ...(operation.parameters ?? [])].map(resolve);
      if (parameters.some((p) => p.in !== 'query' || p.required)) continue;
      plain.set(`${method.toUpperCase()} ${path}`, { operationId: operation.operationId, openApiRoute: path });
    }
  }
  return plain;
}
