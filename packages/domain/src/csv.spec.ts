import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CsvError, formatCsv, parseCsv } from './csv.js';

test('parses quoted fields with commas, quotes and newlines, and tracks line numbers', () => {
  const rows = parseCsv('a,b,c\r\n1,"x, ""y""",3\n\n2,"multi\nline",\n');
  assert.deepEqual(rows, [
    { line: 1, fields: ['a', 'b', 'c'] },
    { line: 2, fields: ['1', 'x, "y"', '3'] },
    { line: 4, fields: ['2', 'multi\nline', ''] },
  ]);
});

test('skips blank lines and a byte order mark, keeps a last line without newline', () => {
  assert.deepEqual(parseCsv('\ufeffa,b\n\n1,2').map((r) => r.fields), [['a', 'b'], ['1', '2']]);
});

test('round-trips what it formats and neutralises spreadsheet formulas', () => {
  const text = formatCsv(['client_ip', 'description'], [['192.168.2.10', 'desk, "left"\nsecond line'], ['192.168.2.11', '=cmd()'], ['192.168.2.12', '']]);
  assert.deepEqual(parseCsv(text).map((r) => r.fields), [['client_ip', 'description'], ['192.168.2.10', 'desk, "left"\nsecond line'], ['192.168.2.11', '=cmd()'], ['192.168.2.12', '']]);
  assert.match(text, /192\.168\.2\.11,'=cmd\(\)/, 'the file itself holds the defused cell');
  for (const value of ["'=x", "''+1", "'plain", '-', '@home']) assert.equal(parseCsv(formatCsv(['d'], [[value]]))[1]!.fields[0], value, value);
  assert.equal(formatCsv(['a', 'b'], [['x', 'b,c']]), 'a,b\r\nx,"b,c"\r\n');
});

test('a field with a semicolon or a tab is quoted, and the piece after it defused: a spreadsheet that splits on them (a ; list-separator locale) never reads a formula', () => {
  // A User-Agent an anonymous failed login planted in the audit log: unquoted, Excel in a ; locale
  // split it and read the second cell as a formula (the first-character check saw only "M").
  const planted = "Mozilla;=-2+3+cmd|' /C calc'!A0";
  const text = formatCsv(['user_agent'], [[planted], ['tab\t=1+1']]);
  assert.equal(text, `user_agent\r\n"Mozilla;'=-2+3+cmd|' /C calc'!A0"\r\n"tab\t'=1+1"\r\n`);
  assert.deepEqual(parseCsv(text).map((r) => r.fields), [['user_agent'], [planted], ['tab\t=1+1']]);
});

test('a piece after a ; or a tab starting a formula is defused in any column: a ; locale reads the quote there as text, not as the start of a field', () => {
  // In a later column the field's quote is in the middle of the line: Excel in a ; locale split at
  // the ; inside it and read the piece after it as a formula all the same.
  const planted = "Mozilla;=-2+3+cmd|' /C calc'!A0;";
  const values = [planted, 'a\t+1', "x;'=kept", 'semi; plain', 'b;@SUM(1)', 'x;"=cmd|\' /C calc\'!A0;', "y;'\"=kept"];
  const text = formatCsv(['when', 'source_ip', 'user_agent'], values.map((v) => ['2026-12-07', '198.51.100.7', v]));
  for (const line of text.split('\r\n')) {
    for (const piece of line.split(/[;\t]/).slice(1)) assert.doesNotMatch(piece, /^"*[=+\-@]/, `a formula after a separator: ${JSON.stringify(line)}`);
  }
  assert.deepEqual(parseCsv(text).slice(1).map((r) => r.fields[2]), values, 'imported back exactly');
});

test('malformed CSV names the line', () => {
  assert.throws(() => parseCsv('a,b\n"open,2\n'), (e: unknown) => e instanceof CsvError && e.line === 2);
  assert.throws(() => parseCsv('a,b\n1,x"y\n'), /line 2: quote inside an unquoted field/);
  assert.throws(() => parseCsv('a\n"x"y\n'), /line 2: text after a closing quote/);
});
