import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../src/errors';
import { parseCsv, parseJsonRows } from '../../src/data/parse-dataset';

const limits = { maxRows: 100, maxColumns: 10 };

/** Asserts a 400 INVALID_DATASET with exactly this message (or matching this pattern). */
function rejects(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected AppError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_DATASET');
    assert.equal(error.status, 400);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

describe('parseCsv', () => {
  test('reads a header and infers numeric and categorical columns', () => {
    const table = parseCsv('age,color,score\n30,red,1.5\n,blue,NA\n41, green ,null\n-2e3,red,nan\n', limits);
    assert.deepEqual(table.columns, [
      { name: 'age', type: 'numeric' },
      { name: 'color', type: 'categorical' },
      { name: 'score', type: 'numeric' },
    ]);
    assert.equal(table.rowCount, 4);
    assert.deepEqual(table.data.age, [30, null, 41, -2000]);
    assert.deepEqual(table.data.color, ['red', 'blue', 'green', 'red']);
    assert.deepEqual(table.data.score, [1.5, null, null, null]);
  });

  test('treats NA, NaN and null in any case and empty cells as missing', () => {
    const table = parseCsv('a,b\nNA,1\nnA,2\nNAN,3\nNull,4\n  ,5\n6,6\n', limits);
    assert.deepEqual(table.data.a, [null, null, null, null, null, 6]);
  });

  test('a categorical column keeps numbers as their exact text', () => {
    const table = parseCsv('code\n007\nabc\n1.50\n', limits);
    assert.deepEqual(table.columns, [{ name: 'code', type: 'categorical' }]);
    assert.deepEqual(table.data.code, ['007', 'abc', '1.50']);
  });

  test('hex, binary and octal literals are not numbers', () => {
    const table = parseCsv('h\n0x1F\n2\n', limits);
    assert.deepEqual(table.columns, [{ name: 'h', type: 'categorical' }]);
    assert.deepEqual(table.data.h, ['0x1F', '2']);
  });

  test('quoted fields may hold commas, quotes and newlines', () => {
    const table = parseCsv('name,city\n"Smith, J","Paris, FR"\n"say ""hi""","two\nlines"\n', limits);
    assert.deepEqual(table.data.name, ['Smith, J', 'say "hi"']);
    assert.deepEqual(table.data.city, ['Paris, FR', 'two\nlines']);
  });

  test('strips a byte-order mark and trims header names', () => {
    const table = parseCsv('\uFEFF a ,b\n1,2\n3,4\n', limits);
    assert.deepEqual(
      table.columns.map((c) => c.name),
      ['a', 'b'],
    );
  });

  test('a ragged row is rejected with its line number', () => {
    rejects(() => parseCsv('a,b\n1,2\n3,4,5\n6,7\n', limits), 'line 3 has 3 fields but the header has 2');
    // Skipped empty lines still count.
    rejects(() => parseCsv('a,b\n1,2\n\n3\n', limits), 'line 4 has 1 fields but the header has 2');
  });

  test('rejects duplicate, empty and whitespace-only column names', () => {
    rejects(
      () => parseCsv('a,b,a\n1,2,3\n4,5,6\n', limits),
      'column name "a" appears twice (columns 1 and 3); names must be unique',
    );
    rejects(
      () => parseCsv('a, a \n1,2\n4,5\n', limits),
      'column name "a" appears twice (columns 1 and 2); names must be unique',
    );
    rejects(
      () => parseCsv('a,,c\n1,2,3\n4,5,6\n', limits),
      'header column 2 has an empty column name; every column needs a name',
    );
    rejects(
      () => parseCsv('a,   \n1,2\n4,5\n', limits),
      'header column 2 has an empty column name; every column needs a name',
    );
  });

  test('rejects a __proto__ column and stores other built-in names safely', () => {
    rejects(
      () => parseCsv('__proto__,b\n1,2\n3,4\n', limits),
      'header column 1 is named "__proto__", which is reserved; rename the column',
    );
    const table = parseCsv('constructor,toString\n1,x\n2,y\n', limits);
    assert.equal(Object.getPrototypeOf(table.data), null);
    assert.deepEqual(table.data.constructor, [1, 2]);
    // A column named toString: data, not Object's method.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    assert.deepEqual(table.data.toString, ['x', 'y']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('non-finite numeric text is an error naming the column and line', () => {
    rejects(
      () => parseCsv('a,b\n1,2\n3,Infinity\n', limits),
      'column "b" line 3: "Infinity" is not a finite number; use an empty cell for a missing value',
    );
    rejects(() => parseCsv('a\n1\n1e999\n', limits), /^column "a" line 3: "1e999" is not a finite number/);
    rejects(() => parseCsv('a\nx\n-inf\n', limits), /^column "a" line 3: "-inf" is not a finite number/);
  });

  test('a number beyond the 32-bit float range training computes in names the column and line', () => {
    rejects(
      () => parseCsv('a,b\n1,2\n3,1e308\n', limits),
      'column "b" line 3: 1e308 is outside the range training computes in (32-bit floats, magnitude at most 3.4028234663852886e+38)',
    );
    rejects(() => parseCsv('a\n1\n-3.5e38\n', limits), /^column "a" line 3: -3\.5e38 is outside the range/);
    assert.equal(parseCsv('a\n1\n-3.4e38\n', limits).data.a[1], -3.4e38);
  });

  test('malformed quoting is reported by the parser with its line', () => {
    rejects(() => parseCsv('a,b\n1,"open\n', limits), /^the CSV could not be parsed: .*line 2/);
  });

  test('needs a header and at least 2 data rows', () => {
    rejects(() => parseCsv('', limits), 'the CSV is empty; a header row naming the columns is required');
    rejects(() => parseCsv('a,b\n', limits), 'the dataset has 0 data rows; at least 2 are required');
    rejects(() => parseCsv('a,b\n1,2\n', limits), 'the dataset has 1 data rows; at least 2 are required');
  });

  test('a column with no values is rejected', () => {
    rejects(() => parseCsv('a,b\n1,\n2,NA\n', limits), 'column "b" has no values (every cell is missing); remove it');
  });

  test('enforces the row and column limits', () => {
    const small = { maxRows: 3, maxColumns: 2 };
    assert.equal(parseCsv('a,b\n1,2\n3,4\n5,6\n', small).rowCount, 3);
    rejects(
      () => parseCsv('a,b\n1,2\n3,4\n5,6\n7,8\n', small),
      "the dataset has 4 rows; the limit is 3 (the server's MAX_DATASET_ROWS setting)",
    );
    rejects(
      () => parseCsv('a,b,c\n1,2,3\n4,5,6\n', small),
      "the dataset has more than 2 columns; the limit is 2 (the server's MAX_DATASET_COLUMNS setting)",
    );
  });
});

describe('parseJsonRows', () => {
  test('takes the union of keys; an absent key is missing; booleans become strings', () => {
    const table = parseJsonRows(
      [
        { a: 1, b: 'x', c: true },
        { a: 2.5, c: false, d: 7 },
        { b: 'y', c: null, d: 8 },
      ],
      limits,
    );
    assert.deepEqual(table.columns, [
      { name: 'a', type: 'numeric' },
      { name: 'b', type: 'categorical' },
      { name: 'c', type: 'categorical' },
      { name: 'd', type: 'numeric' },
    ]);
    assert.equal(table.rowCount, 3);
    assert.deepEqual(table.data.a, [1, 2.5, null]);
    assert.deepEqual(table.data.b, ['x', null, 'y']);
    assert.deepEqual(table.data.c, ['true', 'false', null]);
    assert.deepEqual(table.data.d, [null, 7, 8]);
  });

  test('numbers in a column that also has strings become strings', () => {
    const table = parseJsonRows([{ v: 1 }, { v: 'two' }, { v: 0.5 }], limits);
    assert.deepEqual(table.columns, [{ name: 'v', type: 'categorical' }]);
    assert.deepEqual(table.data.v, ['1', 'two', '0.5']);
  });

  test('strings are literal: "NaN" and "3" are categories, not missing or numbers', () => {
    const table = parseJsonRows([{ v: 'NaN' }, { v: '3' }], limits);
    assert.deepEqual(table.columns, [{ name: 'v', type: 'categorical' }]);
    assert.deepEqual(table.data.v, ['NaN', '3']);
  });

  test('rejects nested values, NaN and Infinity, naming row and column', () => {
    const allowed = 'a value must be a finite number, a string, a boolean or null';
    rejects(
      () => parseJsonRows([{ a: 1 }, { a: { deep: 1 } }], limits),
      `row 1 column "a": an object is not allowed; ${allowed}`,
    );
    rejects(
      () => parseJsonRows([{ a: [1, 2] }, { a: 1 }], limits),
      `row 0 column "a": an array is not allowed; ${allowed}`,
    );
    rejects(() => parseJsonRows([{ a: 1 }, { a: NaN }], limits), `row 1 column "a": NaN is not allowed; ${allowed}`);
    rejects(
      () => parseJsonRows([{ a: 1 }, { b: -Infinity }], limits),
      `row 1 column "b": -Infinity is not allowed; ${allowed}`,
    );
    rejects(
      () => parseJsonRows([{ a: 1 }, { a: undefined }], limits),
      `row 1 column "a": undefined is not allowed; ${allowed}`,
    );
  });

  test('a number beyond the 32-bit float range names the row and column', () => {
    rejects(
      () => parseJsonRows([{ a: 1 }, { a: 1e39 }], limits),
      'row 1 column "a": 1e+39 is outside the range training computes in (32-bit floats, magnitude at most 3.4028234663852886e+38)',
    );
  });

  test('needs an array of plain objects', () => {
    rejects(() => parseJsonRows({ a: 1 }, limits), 'the dataset must be a JSON array of row objects');
    rejects(() => parseJsonRows([{ a: 1 }, null], limits), 'row 1 must be an object of column values, got null');
    rejects(() => parseJsonRows([{ a: 1 }, [1]], limits), 'row 1 must be an object of column values, got an array');
    rejects(() => parseJsonRows([{ a: 1 }, 5], limits), 'row 1 must be an object of column values, got 5');
    rejects(() => parseJsonRows([{}, {}], limits), 'the rows have no keys; at least 1 column is required');
  });

  test('rejects __proto__ keys without touching any prototype', () => {
    const rows: unknown = JSON.parse('[{"a": 1}, {"a": 2, "__proto__": {"polluted": true}}]');
    rejects(
      () => parseJsonRows(rows, limits),
      'a key in row 1 is named "__proto__", which is reserved; rename the column',
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const table = parseJsonRows([{ constructor: 'x' }, { constructor: 'y' }], limits);
    assert.deepEqual(table.data.constructor, ['x', 'y']);
  });

  test('rejects blank keys and columns with no values', () => {
    rejects(
      () => parseJsonRows([{ ' ': 1 }, { ' ': 2 }], limits),
      'a key in row 0 has an empty column name; every column needs a name',
    );
    rejects(
      () => parseJsonRows([{ a: 1, b: null }, { a: 2 }], limits),
      'column "b" has no values (every cell is missing); remove it',
    );
  });

  test('enforces the row and column limits', () => {
    const small = { maxRows: 2, maxColumns: 2 };
    rejects(
      () => parseJsonRows([{ a: 1 }, { a: 2 }, { a: 3 }], small),
      "the dataset has 3 rows; the limit is 2 (the server's MAX_DATASET_ROWS setting)",
    );
    rejects(() => parseJsonRows([{ a: 1 }], small), 'the dataset has 1 data rows; at least 2 are required');
    rejects(
      () => parseJsonRows([{ a: 1, b: 2 }, { c: 3 }], small),
      "the dataset has more than 2 columns; the limit is 2 (the server's MAX_DATASET_COLUMNS setting)",
    );
  });
});
