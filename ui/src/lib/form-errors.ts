import { ApiError } from '../api/http.js';

export interface FormErrors {
  /** Shown under the named input. */
  readonly fields: Readonly<Record<string, string>>;
  /** Shown above the buttons when no input is to blame (or the input is not on this form). */
  readonly general: string | null;
}

export const NO_ERRORS: FormErrors = { fields: {}, general: null };

/**
 * Places an API error next to the input it names. The spec's `field` is a dotted (or slash) path
 * ("body.clientIp", "clientIp"); its last segment is matched against the form's inputs.
 */
export function formErrors(error: unknown, formFields: readonly string[], fallback: (e: unknown) => string): FormErrors {
  if (error instanceof ApiError && error.field) {
    const name = error.field.split(/[./]/).pop() ?? error.field;
    if (formFields.includes(name)) return { fields: { [name]: error.message }, general: null };
  }
  return { fields: {}, general: fallback(error) };
}

/** Row-level problems of a rejected CSV import (`details.rows`), one line each. */
export function importProblems(details: unknown): string[] {
  if (typeof details !== 'object' || details === null || !('rows' in details) || !Array.isArray(details.rows)) return [];
  return details.rows.map((row: unknown) => {
    if (typeof row !== 'object' || row === null) return String(row);
    const r = row as { line?: unknown; field?: unknown; message?: unknown };
    const where = [r.line !== undefined ? `line ${String(r.line)}` : null, typeof r.field === 'string' ? r.field : null].filter(Boolean).join(', ');
    return `${where ? where + ': ' : ''}${typeof r.message === 'string' ? r.message : JSON.stringify(row)}`;
  });
}
