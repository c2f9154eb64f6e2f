import { CsvError, parseCsv } from './csv.js';

export interface ImportPreview {
  readonly rows: number;
  readonly columns: readonly string[];
}

/**
 * Checks a mappings CSV before it is sent (header and column counts), so an operator learns about a
 * wrong file at once; the API validates every value again and imports all or nothing.
 */
export function previewMappingsCsv(text: string): ImportPreview {
  const rows = parseCsv(text);
  const header = rows[0]?.map((h) => h.trim().toLowerCase());
  if (!header) throw new CsvError('the file is empty (a header row is required)', 1);
  if (!header.includes('client_ip')) throw new CsvError('the header has no client_ip column', 1);
  if (!header.includes('proxy_name') && !header.includes('proxy_id')) throw new CsvError('the header needs a proxy_name or proxy_id column', 1);
  rows.slice(1).forEach((row, i) => {
    if (row.length !== header.length) throw new CsvError(`has ${row.length} fields, the header has ${header.length}`, i + 2);
  });
  if (rows.length < 2) throw new CsvError('no mapping rows after the header', 2);
  return { rows: rows.length - 1, columns: header };
}

/** The notice after an import: what changed, and that unchanged rows were left alone (no re-apply). */
export function importSummary(rows: number, fileName: string, result: { created: number; updated: number; unchanged: number }): string {
  const parts = [`${result.created} created`, `${result.updated} updated`, `${result.unchanged} unchanged`];
  const gate = result.created + result.updated > 0 ? ' (health gate passed)' : '; nothing to apply';
  return `Imported ${rows} ${rows === 1 ? 'row' : 'rows'} from ${fileName}: ${parts.join(', ')}${gate}.`;
}
