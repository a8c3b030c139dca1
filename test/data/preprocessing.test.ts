import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../src/errors';
import { parseJsonRows } from '../../src/data/parse-dataset';
import {
  decodeClass,
  decodeRegression,
  encodedFeatureNames,
  encodeFeatures,
  encodeTargets,
  fitPreprocessing,
  meanAndStd,
  rowsWithTarget,
} from '../../src/data/preprocessing';

const limits = { maxRows: 100, maxColumns: 10 };

function rejects(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected AppError, got ${String(error)}`);
    assert.equal(error.code, 'INVALID_TRAINING_REQUEST');
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

/** Float32 rounding of each expected value, so comparisons against a Float32Array are exact. */
function f32(values: number[]): number[] {
  return values.map((v) => Math.fround(v));
}

// Rows 0-3 are the training rows in most tests; row 4 has a missing x and a missing target.
const table = parseJsonRows(
  [
    { x: 1, color: 'red', size: 10, label: 'b' },
    { x: 2, color: 'blue', size: 20, label: 'a' },
    { x: 3, color: 'red', size: 30, label: 'b' },
    { x: 4, color: 'green', size: 40, label: 'a' },
    { x: null, color: 'blue', size: 50, label: null },
  ],
  limits,
);
const train = [0, 1, 2, 3];

describe('fitPreprocessing', () => {
  test('standardizes numeric features with the training rows mean and population std', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', train);
    // x: mean (1+2+3+4)/4 = 2.5; variance (2.25+0.25+0.25+2.25)/4 = 1.25; std = sqrt(1.25).
    assert.deepEqual(prep.features[0], { name: 'x', type: 'numeric', mean: 2.5, std: Math.sqrt(1.25) });
    // size: mean 25; variance (225+25+25+225)/4 = 125. Row 4 (size 50) is not a training row.
    assert.deepEqual(prep.features[2], { name: 'size', type: 'numeric', mean: 25, std: Math.sqrt(125) });
  });

  test('one-hot categories are sorted and come from the training rows only', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', train);
    assert.deepEqual(prep.features[1], { name: 'color', type: 'categorical', categories: ['blue', 'green', 'red'] });
    assert.equal(prep.inputSize, 5);
    const withoutGreen = fitPreprocessing(table, 'label', 'classification', [0, 1, 2]);
    assert.deepEqual(withoutGreen.features[1], { name: 'color', type: 'categorical', categories: ['blue', 'red'] });
  });

  test('a constant column gets std 1, also when float rounding leaves a tiny variance', () => {
    assert.deepEqual(meanAndStd([5, 5, 5]), { mean: 5, std: 1 });
    assert.equal(meanAndStd([0.1, 0.1, 0.1]).std, 1);
    assert.deepEqual(meanAndStd([]), { mean: 0, std: 1 });
  });

  test('is plain JSON, so it survives being stored with the model', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', train);
    assert.deepEqual(JSON.parse(JSON.stringify(prep)), prep);
  });

  test('drop removes columns from the features', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', train, ['size', 'color']);
    assert.deepEqual(
      prep.features.map((f) => f.name),
      ['x'],
    );
    assert.equal(prep.inputSize, 1);
  });

  test('rejects an unknown target, naming the available columns', () => {
    rejects(
      () => fitPreprocessing(table, 'nope', 'classification', train),
      'target column "nope" does not exist; columns: "x", "color", "size", "label"',
    );
  });

  test('rejects an unknown drop column and an empty feature list', () => {
    rejects(
      () => fitPreprocessing(table, 'label', 'classification', train, ['colour']),
      'drop lists column "colour", which the dataset does not have; columns: "x", "color", "size", "label"',
    );
    rejects(
      () => fitPreprocessing(table, 'label', 'classification', train, ['x', 'color', 'size']),
      'no feature columns are left once the target "label" and dropped columns are removed; at least 1 is required',
    );
  });

  test('regression needs a numeric target; classification needs 2 classes', () => {
    rejects(
      () => fitPreprocessing(table, 'label', 'regression', train),
      'regression needs a numeric target, but column "label" is categorical; use task "classification"',
    );
    rejects(
      () => fitPreprocessing(table, 'label', 'classification', [0, 2]),
      'classification needs at least 2 classes, but target column "label" has 1 in the training rows ("b")',
    );
  });

  test('numeric classes read back from float32 storage keep the decimals the user wrote', () => {
    // What a chunked dataset gives back for a column written 0.1, 0.25, 2.7: float32 values.
    const stored = parseJsonRows(
      [0.1, 0.25, 2.7, 0.1].map((label, i) => ({ x: i, label: Math.fround(label) })),
      limits,
    );
    const prep = fitPreprocessing(stored, 'label', 'classification', [0, 1, 2, 3]);
    assert.deepEqual(prep.target.task === 'classification' && prep.target.classes, [0.1, 0.25, 2.7]);
    assert.deepEqual([...encodeTargets(prep, stored, [0, 1, 2, 3])], [0, 1, 2, 0]);
    assert.equal(decodeClass(prep, 2), 2.7);
    // A float64 value that is no float32 (an older JSON dataset) stays as it was.
    const exact = parseJsonRows(
      [0.1, 0.3, 0.1].map((label, i) => ({ x: i, label })),
      limits,
    );
    const exactPrep = fitPreprocessing(exact, 'label', 'classification', [0, 1, 2]);
    assert.deepEqual(exactPrep.target.task === 'classification' && exactPrep.target.classes, [0.1, 0.3]);
  });
});

describe('encodeFeatures', () => {
  test('writes a row-major matrix; missing numbers become 0; one-hot in category order', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', train);
    const out = encodeFeatures(prep, table, [0, 4]);
    const s = Math.sqrt(1.25);
    const t = Math.sqrt(125);
    // Columns: x, color=blue, color=green, color=red, size.
    assert.deepEqual(Array.from(out), f32([(1 - 2.5) / s, 0, 0, 1, (10 - 25) / t, 0, 1, 0, 0, (50 - 25) / t]));
  });

  test('an unseen or missing category encodes as all zeros', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', [0, 1, 2], ['x', 'size']);
    assert.deepEqual(prep.features, [{ name: 'color', type: 'categorical', categories: ['blue', 'red'] }]);
    const other = parseJsonRows([{ color: 'green' }, { color: null }, { color: 'red' }], limits);
    assert.deepEqual(Array.from(encodeFeatures(prep, other, [0, 1, 2])), [0, 0, 0, 0, 0, 1]);
  });

  test('encodedFeatureNames lists one label per encoded input', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', train);
    assert.deepEqual(encodedFeatureNames(prep), [
      { column: 'x', label: 'x' },
      { column: 'color', label: 'color=blue' },
      { column: 'color', label: 'color=green' },
      { column: 'color', label: 'color=red' },
      { column: 'size', label: 'size' },
    ]);
  });
});

describe('targets', () => {
  test('rowsWithTarget skips rows whose target is missing', () => {
    assert.deepEqual(Array.from(rowsWithTarget(table, 'label')), [0, 1, 2, 3]);
    rejects(() => rowsWithTarget(table, 'y'), /^target column "y" does not exist; columns: "x"/);
  });

  test('string classes sort by code unit and decode as strings', () => {
    const data = parseJsonRows(
      [
        { f: 1, y: 'b' },
        { f: 2, y: 'a' },
        { f: 3, y: 'B' },
        { f: 4, y: 'a' },
      ],
      limits,
    );
    const prep = fitPreprocessing(data, 'y', 'classification', [0, 1, 2, 3]);
    assert.deepEqual(prep.target, { name: 'y', task: 'classification', classes: ['B', 'a', 'b'] });
    assert.deepEqual(Array.from(encodeTargets(prep, data, [0, 1, 2, 3])), [2, 1, 0, 1]);
    assert.equal(decodeClass(prep, 1), 'a');
  });

  test('numeric classes sort numerically and decode as numbers', () => {
    const data = parseJsonRows(
      [
        { f: 1, y: 3 },
        { f: 2, y: 10 },
        { f: 3, y: 2 },
        { f: 4, y: 3 },
      ],
      limits,
    );
    const prep = fitPreprocessing(data, 'y', 'classification', [0, 1, 2, 3]);
    assert.deepEqual(prep.target, { name: 'y', task: 'classification', classes: [2, 3, 10] });
    assert.deepEqual(Array.from(encodeTargets(prep, data, [0, 1, 2, 3])), [1, 2, 0, 1]);
    assert.equal(decodeClass(prep, 2), 10);
    assert.throws(() => decodeClass(prep, 3), /class index 3 is outside 0..2/);
  });

  test('a class missing from the training rows is a clear error when encoding', () => {
    const prep = fitPreprocessing(table, 'label', 'classification', [0, 1]);
    const data = parseJsonRows(
      [
        { x: 1, label: 'a' },
        { x: 2, label: 'c' },
      ],
      limits,
    );
    const message =
      'row 1 has target "c", a class absent from the training rows ("a", "b"); give each class at least 2 rows';
    assert.throws(() => encodeTargets({ ...prep, features: [] }, data, [0, 1]), { message });
  });

  test('regression targets are standardized and decode back', () => {
    const prep = fitPreprocessing(table, 'size', 'regression', train);
    // mean 25, std sqrt(125) ≈ 11.1803
    assert.deepEqual(prep.target, { name: 'size', task: 'regression', mean: 25, std: Math.sqrt(125) });
    const s = Math.sqrt(125);
    assert.deepEqual(Array.from(encodeTargets(prep, table, [0, 3])), f32([-15 / s, 15 / s]));
    assert.equal(decodeRegression(prep, 1), 25 + s);
    assert.ok(Math.abs(decodeRegression(prep, -15 / s) - 10) < 1e-12);
    assert.throws(() => decodeClass(prep, 0), /needs a classification target/);
  });
});
