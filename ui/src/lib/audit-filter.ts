import type { AuditQuery } from '../api/types.js';

/** The audit search's fields as the console shows them; each is also a query parameter of the page's URL. */
export interface AuditFilterForm {
  q: string;
  actor: string;
  action: string;
  entityType: string;
  sourceIp: string;
  /** `<input type="datetime-local">` values: the browser's local time, no zone. */
  from: string;
  to: string;
}

export const AUDIT_FILTER_KEYS = ['q', 'actor', 'action', 'entityType', 'sourceIp', 'from', 'to'] as const satisfies readonly (keyof AuditFilterForm)[];
export const AUDIT_ENTITY_TYPES = ['user', 'proxy', 'mapping', 'settings', 'session'] as const satisfies readonly NonNullable<AuditQuery['entityType']>[];
export const AUDIT_ACTIONS = ['create', 'update', 'delete', 'enable', 'disable', 'import', 'check', 'quota_reset', 'login', 'login_failed', 'logout', 'password_change', 'password_change_failed', 'reauth_failed'] as const;

const LOCAL_DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/;

/** The form from a route's query: unknown or malformed values are dropped, as a hand-edited URL may carry them. */
export function auditFormFromQuery(query: Readonly<Record<string, unknown>>): AuditFilterForm {
  const text = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : '');
  const entityType = text('entityType');
  return {
    q: text('q'),
    actor: text('actor'),
    action: text('action'),
    entityType: (AUDIT_ENTITY_TYPES as readonly string[]).includes(entityType) ? entityType : '',
    sourceIp: text('sourceIp'),
    from: LOCAL_DATETIME.test(text('from')) ? text('from') : '',
    to: LOCAL_DATETIME.test(text('to')) ? text('to') : '',
  };
}

/** The route query for the form: only fields that are set, so an empty search is a clean URL. */
export function auditFormToQuery(form: AuditFilterForm): Record<string, string> {
  return Object.fromEntries(AUDIT_FILTER_KEYS.map((k) => [k, form[k].trim()]).filter(([, v]) => v !== ''));
}

/** The api's query: trimmed text, local times as UTC instants. */
export function auditApiQuery(form: AuditFilterForm): AuditQuery {
  const query: AuditQuery = {};
  const set = <K extends 'q' | 'actor' | 'action' | 'sourceIp'>(key: K) => {
    const value = form[key].trim();
    if (value) query[key] = value;
  };
  set('q');
  set('actor');
  set('action');
  set('sourceIp');
  if (form.entityType) query.entityType = form.entityType as NonNullable<AuditQuery['entityType']>;
  if (form.from) query.from = new Date(form.from).toISOString();
  if (form.to) query.to = new Date(form.to).toISOString();
  return query;
}

/** A shortened User-Agent for a table cell: the product tokens operators recognise, full text on hover. */
export function shortUserAgent(ua: string | null): string {
  if (!ua) return '';
  const browser = /(Firefox|Edg|OPR|Chrome|Safari|curl|Wget|python-requests|node)\/[\d.]+/.exec(ua)?.[0];
  const platform = /\(([^;)]+)/.exec(ua)?.[1];
  if (!browser) return ua.length > 40 ? `${ua.slice(0, 39)}…` : ua;
  return platform ? `${browser.replace(/(\/\d+)[\d.]*/, '$1')} · ${platform}` : browser.replace(/(\/\d+)[\d.]*/, '$1');
}
