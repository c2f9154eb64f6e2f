import openapiTS, { astToString, COMMENT_HEADER } from 'openapi-typescript';

/** The contract: the api's and the console's request and response types are derived from it, never written by hand. */
export const API_SPEC_FILE = new URL('../../../API_SPEC.yaml', import.meta.url);
export const CONTRACT_SCHEMA_FILE = new URL('../src/contract/schema.ts', import.meta.url);

/** The TypeScript declarations of the contract, as `npm run generate -w @pgw/api` writes them. */
export async function renderContractTypes(spec: URL = API_SPEC_FILE): Promise<string> {
  // A `default` in this spec marks a request field the client may omit (MappingCreate.enabled), so it must stay optional.
  const ast = await openapiTS(spec, { defaultNonNullable: false, silent: true });
  return COMMENT_HEADER + astToString(ast);
}
