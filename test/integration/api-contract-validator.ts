import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

/**
 * Checks API responses against API_SPEC.yaml independently of the server's own validator: the status
 * must be documented for the operation, and a JSON body must match its schema. Also records which
 * operations were exercised, so a test can prove it covered all of them.
 */
const SPEC_PATH = fileURLToPath(new URL('../../API_SPEC.yaml', import.meta.url));
type Spec = { paths: Record<string, Record<string, { operationId: string; responses: Record<string, { $ref?: string; content?: Record<string, unknown> }> }>> };
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

export class ContractValidator {
  readonly spec: Spec = parse(readFileSync(SPEC_PATH, 'utf8')) as Spec;
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly routes: { regex: RegExp; template: string }[];
  readonly exercised = new Map<string, Set<number>>();

  constructor() {
    addFormats(this.ajv);
    this.ajv.addSchema(this.spec as object, 'api');
    this.routes = Object.keys(this.spec.paths)
      // Literal segments before templated ones, so /mappings/export is not taken for /mappings/{id}.
      .sort((a, b) => (a.match(/\{/g)?.length ?? 0) - (b.match(/\{/g)?.length ?? 0))
      .map((template) => ({ template, regex: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));
  }

  operations(): string[] {
    const methods = new Set(['get', 'put', 'post', 'patch', 'delete']);
    return Object.values(this.spec.paths).flatMap((item) => Object.entries(item).filter(([m]) => methods.has(m)).map(([, op]) => op.operationId));
  }

  /** Throws with a readable reason when the response breaks the contract. */
  check(method: string, path: string, status: number, contentType: string | null, body: unknown): string {
    const pathname = path.split('?')[0]!;
    const route = this.routes.find((r) => r.regex.test(pathname));
    if (!route) throw new Error(`${method} ${pathname}: not in API_SPEC.yaml`);
    const operation = this.spec.paths[route.template]![method.toLowerCase()];
    if (!operation) throw new Error(`${method} ${route.template}: method not in API_SPEC.yaml`);
    const response = operation.responses[String(status)];
    if (!response) throw new Error(`${method} ${route.template} (${operation.operationId}): status ${status} is not documented; body ${JSON.stringify(body)}`);
    const exercised = this.exercised.get(operation.operationId) ?? new Set<number>();
    exercised.add(status);
    this.exercised.set(operation.operationId, exercised);
    const responsePointer = response.$ref
      ? response.$ref.slice(1)
      : `/paths/${route.template.replace(/~/g, '~0').replace(/\//g, '~1')}/${method.toLowerCase()}/responses/${status}`;
    const resolved = response.$ref ? this.resolve(response.$ref) : response;
    const media = contentType?.split(';')[0]?.trim() ?? null;
    if (!resolved.content) {
      if (body !== undefined && body !== '') throw new Error(`${operation.operationId} ${status}: expected no body`);
      return operation.operationId;
    }
    if (!media || !(media in resolved.content)) throw new Error(`${operation.operationId} ${status}: content type ${media} not documented`);
    if (media !== 'application/json') return operation.operationId;
    const pointer = `api#${responsePointer}/content/application~1json/schema`;
    let validate = this.compiled.get(pointer);
    if (!validate) {
      validate = this.ajv.compile({ $ref: pointer });
      this.compiled.set(pointer, validate);
    }
    if (!validate(body)) throw new Error(`${operation.operationId} ${status}: body breaks the contract: ${this.ajv.errorsText(validate.errors)}; body ${JSON.stringify(body).slice(0, 500)}`);
    return operation.operationId;
  }

  private resolve(ref: string): { content?: Record<string, unknown> } {
    return ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], this.spec) as { content?: Record<string, unknown> };
  }
}
