import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCsv } from '../../src/data/parse-dataset';
import { stratifiedFolds } from '../../src/evaluation/folds';
import { Rng } from '../../src/random';
import { trainingRequestSchema } from '../../src/schemas/training-request.schema';
import { crossValidate } from '../../src/training/cross-validate';
import { useWasmBackend } from '../helpers/tf';
import { xorCsv } from '../helpers/app';

describe('stratified folds', () => {
  test('a partition of every position, each class spread within one row, seeded', () => {
    const labels = Array.from({ length: 103 }, (_, i) => (i % 7 === 0 ? 'rare' : i % 2 ? 'a' : 'b'));
    const folds = stratifiedFolds(labels, 5, new Rng(3));
    const all = folds.flatMap((f) => Array.from(f)).sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: 103 }, (_, i) => i),
    );
    const sizes = folds.map((f) => f.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
    for (const label of ['rare', 'a', 'b']) {
      const counts = folds.map((f) => Array.from(f).filter((p) => labels[p] === label).length);
      assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `${label}: ${counts}`);
    }
    assert.deepEqual(stratifiedFolds(labels, 5, new Rng(3)), folds);
    assert.notDeepEqual(stratifiedFolds(labels, 5, new Rng(4)), folds);
  });
});

describe('cross-validation on the job path', () => {
  before(useWasmBackend);

  test('5 folds over the rows outside the test split: per fold, mean ± sd, out of fold', async () => {
    const table = parseCsv(xorCsv(150), { maxRows: 1000, maxColumns: 10 });
    const request = trainingRequestSchema.parse({
      datasetId: 'ds',
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 8 }] },
      training: { epochs: 6, seed: 5, testSplit: 0.2, learningRate: 0.05 },
      validation: { folds: 5 },
    });
    const cv = (await crossValidate(request, table, 5))!;
    assert.equal(cv.folds, 5);
    assert.equal(cv.rows, 120, '150 rows less 30 test rows');
    assert.equal(cv.perFold.length, 5);
    assert.equal(
      cv.perFold.reduce((s, f) => s + f.rows.validation, 0),
      120,
    );
    for (const f of cv.perFold) assert.equal(f.rows.train + f.rows.validation, 120);
    for (const key of ['valLoss', 'logLoss', 'accuracy', 'rocAuc', 'ece', 'brier', 'f1Macro']) {
      const values = cv.perFold.map((f) =>
        key === 'valLoss' ? f.valLoss : (f.metrics as Record<string, number>)[key],
      );
      const mean = values.reduce((a, b) => a + b, 0) / 5;
      const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / 4);
      assert.ok(Math.abs(cv.summary[key].mean - mean) < 1e-12, key);
      assert.ok(Math.abs(cv.summary[key].sd - sd) < 1e-12, key);
      assert.equal(cv.summary[key].folds, 5);
    }
    // Without class weights the fold's valLoss is its log loss (float32 forward pass against float64 metrics).
    for (const f of cv.perFold) assert.ok(Math.abs(f.valLoss - (f.metrics as { logLoss: number }).logLoss) < 1e-4);
    const oof = cv.outOfFold as { rows: number; confusionMatrix: number[][] };
    assert.equal(oof.rows, 120);
    assert.equal(
      oof.confusionMatrix.flat().reduce((a, b) => a + b, 0),
      120,
    );
    assert.deepEqual(cv.outOfFoldClasses, ['no', 'yes']);
  });
});
