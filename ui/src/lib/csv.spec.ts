import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CsvError, formatCsv, parseCsv } from './csv.js';

test('parses plain, quoted, embedded commas, doubled quotes and newlines', () => {
  const text = 'a,b,c\r\n1,"x, y","say ""hi"""\n2,"two\nlines",\n';
  assert.deepEqual(parseCsv(text), [
    ['a', 'b', 'c'],
    ['1', 'x, y', 'say "hi"'],
    ['2', 'two\nlines', ''],
  ]);
});

test('skips blank lines and a byte order mark, keeps a last line without newline', () => {
  assert.deepEqual(parseCsv('\ufeffa,b\n\n1,2'), [
    ['a', 'b'],
    ['1', '2'],
  ]);
});

test('names the line of a malformed field', () => {
  assert.throws(() => parseCsv('a,b\n1,"open'), (e: unknown) => e instanceof CsvError && e.line === 2 && /not closed/.test(e.message));
  assert.throws(() => parseCsv('a\nx"y'), (e: unknown) => e instanceof CsvError && e.line === 2);
  assert.throws(() => parseCsv('"a"b'), /closing quote/);
});

test('format then parse round-trips any field', () => {
  const rows = [
    ['client_ip', 'description'],
    ['192.168.2.10', 'lab, "phone"\nsecond line'],
    ['192.168.2.11', ''],
  ];
  assert.deepEqual(parseCsv(formatCsv(rows)), rows);
  assert.equal(formatCsv([['a', 'b,c']]), 'a,"b,c"\r\n');
});
