import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../src/errors';
import { parseJsonRows } from '../../src/data/parse-dataset';
import { encodeFeatures, fitPreprocessing } from '../../src/data/preprocessing';
import { rowsToTable, vectorsToTable } from '../../src/data/prediction-input';

const limits = { maxRows: 100, maxColumns: 10 };

function rejects(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected AppError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_PREDICT_INPUT');
    assert.equal(error.status, 400);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

// x: mean 2, std sqrt(2/3); color: categories ["1", "red"] (the JSON number 1 became "1").
const training = parseJsonRows(
  [
    { x: 1, color: 'red', y: 'no' },
    { x: 2, color: 1, y: 'yes' },
    { x: 3, color: 'red', y: 'no' },
  ],
  limits,
);
const prep = fitPreprocessing(training, 'y', 'classification', [0, 1, 2]);
const s = Math.sqrt(2 / 3);

describe('rowsToTable', () => {
  test('reads features by name, ignoring extra keys and the target', () => {
    const table = rowsToTable(prep, [
      { x: 3, color: 'red', y: 'no', note: 'ignored' },
      { x: null, color: null },
    ]);
    assert.deepEqual(table.columns, [
      { name: 'x', type: 'numeric' },
      { name: 'color', type: 'categorical' },
    ]);
    assert.deepEqual(table.data.x, [3, null]);
    assert.deepEqual(table.data.color, ['red', null]);
    assert.equal(Object.hasOwn(table.data, 'y'), false);
    assert.deepEqual(Array.from(encodeFeatures(prep, table, [0, 1])), [Math.fround(1 / s), 0, 1, 0, 0, 0]);
  });

  test('a number for a categorical feature matches the category with that spelling', () => {
    const table = rowsToTable(prep, [{ x: 2, color: 1 }]);
    assert.deepEqual(Array.from(encodeFeatures(prep, table, [0])), [0, 1, 0]);
  });

  test('a missing feature is an error; explicit null is not', () => {
    rejects(
      () => rowsToTable(prep, [{ x: 1, color: 'red' }, { color: 'red' }]),
      'row 1 is missing feature "x"; pass null for a missing value',
    );
  });

  test('a non-numeric value for a numeric feature names row and feature', () => {
    rejects(
      () => rowsToTable(prep, [{ x: '3 apples', color: 'red' }]),
      'row 0 feature "x" must be a finite number or null, got the string "3 apples"',
    );
    rejects(
      () => rowsToTable(prep, [{ x: true, color: 'red' }]),
      'row 0 feature "x" must be a finite number or null, got a boolean',
    );
    rejects(
      () => rowsToTable(prep, [{ x: 1, color: { a: 1 } }]),
      'row 0 feature "color" must be a string, number, boolean or null, got an object',
    );
  });

  test('a number beyond the 32-bit float range the model computes in names row and feature', () => {
    rejects(
      () =>
        rowsToTable(prep, [
          { x: 1, color: 'red' },
          { x: -1e39, color: 'red' },
        ]),
      'row 1 feature "x" is -1e+39, outside the range the model computes in (32-bit floats, magnitude at most 3.4028234663852886e+38)',
    );
    rejects(() => vectorsToTable(prep, [[1e308, 'red']]), /^row 0 feature "x" is 1e\+308, outside the range/);
  });

  test('needs a bounded, non-empty array of objects', () => {
    rejects(() => rowsToTable(prep, []), 'rows must be a non-empty array of objects');
    rejects(() => rowsToTable(prep, { x: 1 }), 'rows must be a non-empty array of objects');
    rejects(
      () => rowsToTable(prep, [{ x: 1, color: 'red' }, [1, 'red']]),
      'row 1 must be an object of feature values, got an array',
    );
    const three = [
      { x: 1, color: 'red' },
      { x: 2, color: 'red' },
      { x: 3, color: 'red' },
    ];
    assert.equal(rowsToTable(prep, three, 3).rowCount, 3);
    rejects(
      () => rowsToTable(prep, three, 2),
      "rows has 3 rows; the limit is 2 per request (the server's MAX_PREDICT_ROWS setting)",
    );
  });

  test('__proto__ keys are ignored and reach no prototype', () => {
    const rows: unknown = JSON.parse('[{"__proto__": {"polluted": true}, "x": 1, "color": "red"}]');
    const table = rowsToTable(prep, rows);
    assert.deepEqual(table.data.x, [1]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  test('a feature named like an Object.prototype member must still be given explicitly', () => {
    const data = parseJsonRows(
      [
        { constructor: 1, y: 'a' },
        { constructor: 2, y: 'b' },
      ],
      limits,
    );
    const p = fitPreprocessing(data, 'y', 'classification', [0, 1]);
    rejects(() => rowsToTable(p, [{}]), 'row 0 is missing feature "constructor"; pass null for a missing value');
    assert.deepEqual(rowsToTable(p, [{ constructor: 2 }]).data.constructor, [2]);
  });
});

describe('vectorsToTable', () => {
  test('reads values in feature order', () => {
    const table = vectorsToTable(prep, [
      [1, 'red'],
      [null, 1],
    ]);
    assert.deepEqual(table.data.x, [1, null]);
    assert.deepEqual(table.data.color, ['red', '1']);
  });

  test('a wrong length states the expected length and order', () => {
    rejects(
      () => vectorsToTable(prep, [[1, 'red'], [1]]),
      'row 1 has 1 values; expected 2, in this order: "x", "color"',
    );
    rejects(
      () => vectorsToTable(prep, [{ x: 1, color: 'red' }]),
      'row 0 must be an array of 2 values in this order: "x", "color"; got an object',
    );
    rejects(() => vectorsToTable(prep, []), 'inputs must be a non-empty array of arrays');
  });

  test('checks each value against its feature', () => {
    rejects(
      () => vectorsToTable(prep, [['red', 1]]),
      'row 0 feature "x" must be a finite number or null, got the string "red"',
    );
    rejects(
      () => vectorsToTable(prep, [[Number.NaN, 'red']]),
      'row 0 feature "x" must be a finite number or null, got NaN',
    );
  });
});
