import { CsvError, parseCsvTable } from '@pgw/domain/csv';

export interface ImportPreview {
  readonly rows: number;
  readonly columns: readonly string[];
}

/**
 * Checks a mappings CSV before it is sent (header and column counts), so an operator learns about a
 * wrong file at once; the API validates every value again and imports all or nothing.
 */
export function previewMappingsCsv(text: string): ImportPreview {
  const { header, rows } = parseCsvTable(text);
  if (!header.includes('client_ip')) throw new CsvError(1, 'the header has no client_ip column');
  if (!header.includes('proxy_name') && !header.includes('proxy_id')) throw new CsvError(1, 'the header needs a proxy_name or proxy_id column');
  if (rows.length < 1) throw new CsvError(2, 'no mapping rows after the header');
  return { rows: rows.length, columns: header };
}

/** The notice after an import: what changed, and that unchanged rows were left alone (no re-apply). */
export function importSummary(rows: number, fileName: string, result: { created: number; updated: number; unchanged: number }): string {
  const parts = [`${result.created} created`, `${result.updated} updated`, `${result.unchanged} unchanged`];
  const gate = result.created + result.updated > 0 ? ' (health gate passed)' : '; nothing to apply';
  return `Imported ${rows} ${rows === 1 ? 'row' : 'rows'} from ${fileName}: ${parts.join(', ')}${gate}.`;
}
