import { ApiError } from '../api/http.js';

export interface FormErrors {
  /** Shown under the named input. */
  readonly fields: Readonly<Record<string, string>>;
  /** Shown above the buttons when no input is to blame (or the input is not on this form). */
  readonly general: string | null;
}

export const NO_ERRORS: FormErrors = { fields: {}, general: null };

/** What a pattern-checked field accepts, for the fields whose rule is a regular expression in the spec. */
const PATTERN_RULES: Readonly<Record<string, string>> = {
  username: 'Use 1 to 64 letters, digits or the characters _ . @ -',
  lanInterface: 'Use an interface name such as eth1: letters, digits, _ . - (at most 15 characters)',
  wanInterface: 'Use an interface name such as eth0: letters, digits, _ . - (at most 15 characters)',
};

/**
 * The schema validator's wording ("must NOT have fewer than 1 characters", "must match pattern
 * ^[A-Za-z…]$") turned into a sentence for the person at the form. Messages written by the api for
 * people (they do not start with the validator's phrases) pass through.
 */
export function plainMessage(field: string, message: string): string {
  const text = message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
  let m: RegExpMatchArray | null;
  if (/^must NOT have fewer than 1 characters?$/.test(text) || /^must have required property/.test(text)) return 'Required.';
  if ((m = text.match(/^must NOT have fewer than (\d+) characters$/))) return `Needs at least ${m[1]} characters.`;
  if ((m = text.match(/^must NOT have more than (\d+) characters$/))) return `At most ${m[1]} characters.`;
  if (/^must match pattern /.test(text)) return `${PATTERN_RULES[field] ?? 'Contains characters that are not allowed here'}.`;
  if (/^must match format "?ipv4"?/.test(text)) return 'Must be an IPv4 address like 192.168.2.10.';
  if ((m = text.match(/^must be >= (-?\d+)$/))) return `Must be at least ${m[1]}.`;
  if ((m = text.match(/^must be <= (-?\d+)$/))) return `Must be at most ${m[1]}.`;
  if (/^must be integer$/.test(text)) return 'Must be a whole number.';
  if (/^must be (string|number|boolean|object|array|null)/.test(text)) return 'Has the wrong kind of value.';
  if (/^must be equal to one of the allowed values$/.test(text)) return 'Pick one of the offered choices.';
  if (/^must NOT have additional properties$/.test(text)) return 'Is not a setting this form knows.';
  return text;
}

interface ValidatorIssue {
  path?: unknown;
  message?: unknown;
}

/** `/body/name` or `body.name` -> `name`; a missing property is named in its message. */
function issueField(issue: ValidatorIssue): string | null {
  const missing = typeof issue.message === 'string' ? issue.message.match(/^must have required property '([^']+)'/) : null;
  if (missing) return missing[1]!;
  return typeof issue.path === 'string' ? (issue.path.split(/[./]/).filter(Boolean).pop() ?? null) : null;
}

/**
 * Places an API error next to the input it names, every problem of a rejected body at once
 * (`details.issues`). The spec's `field` is a dotted (or slash) path ("body.clientIp", "clientIp");
 * its last segment is matched against the form's inputs. Problems no input can show are general.
 */
export function formErrors(error: unknown, formFields: readonly string[], fallback: (e: unknown) => string): FormErrors {
  if (!(error instanceof ApiError)) return { fields: {}, general: fallback(error) };
  const issues = issuesOf(error);
  const fields: Record<string, string> = {};
  const general: string[] = [];
  for (const { field, message } of issues) {
    if (field && formFields.includes(field)) fields[field] ??= plainMessage(field, message);
    else if (!field) general.push(message);
    else {
      // The api's own sentences name what they are about; a validator's phrase needs its field.
      const plain = plainMessage(field, message);
      general.push(plain === message ? message : `${field}: ${plain}`);
    }
  }
  if (general.length === 0 && Object.keys(fields).length === 0) general.push(fallback(error));
  return { fields, general: general.length ? general.join(' ') : null };
}

function issuesOf(error: ApiError): { field: string | null; message: string }[] {
  const details = error.details as { issues?: unknown } | undefined;
  if (details && Array.isArray(details.issues) && details.issues.length > 0) {
    return (details.issues as ValidatorIssue[]).map((issue) => ({ field: issueField(issue), message: typeof issue.message === 'string' ? issue.message : error.message }));
  }
  const field = error.field ? (error.field.split(/[./]/).pop() ?? error.field) : null;
  return [{ field, message: error.message }];
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
