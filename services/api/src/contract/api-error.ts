/**
 * The API's error envelope (`{ error: { code, message, field?, details? } }`, API_SPEC.yaml's Error)
 * as an Error, with its HTTP status: the api's HTTP layer throws it (authentication, access,
 * throttles, routing; use cases throw DomainError instead, domain-errors.ts) and its error handler
 * renders it; the console's client throws it for every failed request (ui/src/api/http.ts).
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}
