/**
 * RFC 4180 CSV, the one parser and formatter of the mappings file: the api imports and exports with
 * it, the console checks a file with it before sending it. Quoted fields may hold commas, quotes ("")
 * and newlines. No imports: the console bundles this file (`@pgw/domain/csv`).
 */

/** A malformed file, or one the reader cannot use, with the 1-based line at fault. */
export class CsvError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/**
 * formatCsvField's defusal undone: one leading quote before a formula character comes off, and one
 * after each ; or tab before one, so an exported value imports back exactly (a value that itself has
 * quotes there before a formula character gets one more quote on export, so it too comes back as it was).
 */
const DEFUSED = /^'+[=+\-@\t\r]/;
const DEFUSED_AFTER_SEPARATOR = /([;\t])'(["']*[=+\-@])/g;
const undefused = (field: string) => (DEFUSED.test(field) ? field.slice(1) : field).replace(DEFUSED_AFTER_SEPARATOR, '$1$2');

/** Rows of fields, each with the 1-based line it starts on; blank lines are skipped. Defused formula cells come back as they were. */
export function parseCsv(text: string): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let fieldStarted = false;
  const input = text.startsWith('\ufeff') ? text.slice(1) : text;
  const endRow = () => {
    fields.push(undefused(field));
    if (fields.length > 1 || fields[0] !== '') rows.push({ line: rowLine, fields });
    fields = [];
    field = '';
    fieldStarted = false;
  };
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (quoted) {
      if (c === '"' && input[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
        const next = input[i + 1];
        if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') throw new CsvError(line, 'text after a closing quote');
      } else {
        if (c === '\n') line++;
        field += c;
      }
    } else if (c === '"' && !fieldStarted && field === '') {
      quoted = true;
      fieldStarted = true;
    } else if (c === ',') {
      fields.push(undefused(field));
      field = '';
      fieldStarted = false;
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && input[i + 1] === '\n') i++;
      endRow();
      line++;
      rowLine = line;
    } else if (c === '"') {
      throw new CsvError(line, 'quote inside an unquoted field');
    } else {
      field += c;
      fieldStarted = true;
    }
  }
  if (quoted) throw new CsvError(rowLine, 'unterminated quoted field');
  endRow();
  return rows;
}

/**
 * A CSV file as a table: its header (names trimmed, lower case) and its rows, refused when its shape
 * leaves a cell's meaning open: no header, a name repeated (which cell counts?), a row of another
 * length than the header (which cells are missing, or dropped?).
 */
export function parseCsvTable(text: string): { header: string[]; rows: { line: number; fields: string[] }[] } {
  const [first, ...rows] = parseCsv(text);
  if (!first) throw new CsvError(1, 'the file is empty (a header row is required)');
  const header = first.fields.map((name) => name.trim().toLowerCase());
  const repeated = header.find((name, i) => header.indexOf(name) !== i);
  if (repeated !== undefined) throw new CsvError(first.line, `column "${repeated}" is repeated in the header`);
  for (const { line, fields } of rows) {
    if (fields.length !== header.length) throw new CsvError(line, `has ${fields.length} fields, the header has ${header.length}`);
  }
  return { header, rows };
}

export function formatCsvField(value: string | number | boolean): string {
  const text = String(value);
  // A leading = + - @ would be a formula in a spreadsheet: quote-prefix it (CSV injection).
  // A value already starting with quotes and one of those gets one more, so the reader's undo is exact.
  const leading = /^'*[=+\-@\t\r]/.test(text) && typeof value === 'string' ? `'${text}` : text;
  // A spreadsheet whose list separator is ; or a tab (Excel in many locales) splits there whatever
  // the quoting: a quote in a later column is in the middle of its line, text to it. Each piece after
  // one is defused as a leading formula is; quoted too, so a , separator keeps the value one cell.
  // Quotes skipped too: a spreadsheet may read `""=` there as an empty quoted string, then the formula.
  const safe = typeof value === 'string' ? leading.replace(/([;\t])(["']*[=+\-@])/g, "$1'$2") : leading;
  return /[",;\t\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function formatCsv(header: readonly string[], rows: readonly (readonly (string | number | boolean)[])[]): string {
  return [header, ...rows].map((row) => row.map(formatCsvField).join(',')).join('\r\n') + '\r\n';
}
