import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFeatures, type Preprocessing } from '../../src/data/preprocessing';
import { rowsToTable, vectorsToTable } from '../../src/data/prediction-input';
import { AppError } from '../../src/errors';
import { InputEncoder } from '../../src/serving/input-encoder';

/** Two numeric features around the categorical one, with categories that look like numbers and booleans. */
const PREP: Preprocessing = {
  features: [
    { name: 'age', type: 'numeric', mean: 40, std: 12.5 },
    { name: 'plan', type: 'categorical', categories: ['1', 'basic', 'pro', 'true'] },
    { name: 'spend', type: 'numeric', mean: -3, std: 0.7 },
  ],
  target: { name: 'churned', task: 'classification', classes: ['no', 'yes'] },
  inputSize: 6,
};

function viaTable(input: { rows?: unknown[]; inputs?: unknown[] }): Float32Array {
  const table = input.rows !== undefined ? rowsToTable(PREP, input.rows, 100) : vectorsToTable(PREP, input.inputs, 100);
  return encodeFeatures(
    PREP,
    table,
    Int32Array.from({ length: table.rowCount }, (_, i) => i),
  );
}

describe('InputEncoder', () => {
  const encoder = new InputEncoder(PREP);

  test('gives exactly the table path’s numbers, for rows and inputs', () => {
    const rows = [
      { age: 31, plan: 'pro', spend: 1.25 },
      { age: null, plan: null, spend: -3 }, // missing: 0 and no category
      { age: 40.5, plan: 'enterprise', spend: 0 }, // unseen category: all zeros
      { age: 1e6, plan: 1, spend: -1e-3, churned: 'yes', extra: [1] }, // 1 matches category "1"; extra keys ignored
      { age: -7, plan: true, spend: 2 }, // true matches category "true"
    ];
    const expected = viaTable({ rows });
    const byName = encoder.encode({ rows }, 100)!;
    assert.deepEqual({ x: byName.x, rows: byName.rows }, { x: expected, rows: 5 });
    // The unseen category and the key that is no feature are warnings; the target is not.
    assert.deepEqual(byName.warnings.counts, { unseen_category: 1, unknown_key: 1 });
    const inputs = rows.map((r) => [r.age, r.plan, r.spend]);
    const inOrder = encoder.encode({ inputs }, 100)!;
    assert.deepEqual({ x: inOrder.x, rows: inOrder.rows }, { x: viaTable({ inputs }), rows: 5 });
    // Numeric strings are the numbers they spell, on both paths.
    const spelled = [{ age: '31', plan: 'pro', spend: ' 1.25 ' }];
    assert.deepEqual(encoder.encode({ rows: spelled }, 100)!.x, viaTable({ rows: spelled }));
    assert.deepEqual(viaTable({ rows: spelled }), viaTable({ rows: [rows[0]] }));
    // Spot-check one value by hand: (31 − 40) / 12.5 = −0.72, stored as float32.
    assert.equal(expected[0], Math.fround(-0.72));
  });

  test('returns null for what the table path must explain, and the table path throws', () => {
    const bad: { rows?: unknown[]; inputs?: unknown[] }[] = [
      { rows: [] },
      { rows: [{ age: 1, plan: 'pro' }] }, // spend missing
      { rows: [[1, 'pro', 2]] }, // not an object
      { rows: [{ age: '31 years', plan: 'pro', spend: 1 }] }, // a string that is no number
      { rows: [{ age: 1, plan: { a: 1 }, spend: 1 }] },
      { inputs: [[1, 'pro']] }, // too short
      { inputs: [{ age: 1 }] },
      { inputs: [[1, 'pro', Number.NaN]] },
      { inputs: Array.from({ length: 101 }, () => [1, 'pro', 2]) }, // over maxRows
    ];
    for (const input of bad) {
      assert.equal(encoder.encode(input, 100), null, JSON.stringify(input).slice(0, 80));
      assert.throws(
        () => viaTable(input),
        (error: unknown) => error instanceof AppError,
        JSON.stringify(input).slice(0, 80),
      );
    }
  });
});
