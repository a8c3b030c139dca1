import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNormalization } from '../../src/ml/layers/batch-normalization';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { paramByName, useWasmBackend } from '../helpers/tf';

/**
 * Trainer.recomputeBatchStatistics: every batch-statistics layer's running mean and variance
 * become the count-weighted average of the statistics of the training rows' batches (batchSize
 * rows, in trainRows order; the variance each batch's unbiased one) under the current weights.
 * Checked by hand on the first batch-norm layer, whose input x·W (no bias before batch norm)
 * is computable here in float64.
 */

const INPUTS = 4;
const UNITS = 8;
const BATCH = 24;

function data(rows = 130): TrainingData {
  const rng = new Rng(7);
  const x = new Float32Array(rows * INPUTS);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < INPUTS; j++) {
      const v = 1 + 3 * (rng.next() - 0.5);
      x[i * INPUTS + j] = v;
      s += j % 2 ? v : -v;
    }
    y[i] = s > 0 ? 1 : 0;
  }
  // 121 training rows: 5 batches of 24 and one of 1, which training skips and so does the recount.
  return {
    task: 'classification',
    x,
    y,
    inputSize: INPUTS,
    outputSize: 2,
    trainRows: Int32Array.from({ length: 121 }, (_, i) => 120 - i),
    validationRows: Int32Array.from({ length: rows - 121 }, (_, i) => 121 + i),
  };
}

function trainer(normalization: string, dropout = 0): Trainer {
  return new Trainer(data(), {
    hidden: [
      hiddenLayerSchema.parse({ units: UNITS, normalization, dropout }),
      hiddenLayerSchema.parse({ units: UNITS, normalization }),
    ],
    regularization: regularizationSchema.parse({}),
    epochs: 3,
    batchSize: BATCH,
    optimizer: 'adam',
    learningRate: 0.01,
    seed: 9,
  });
}

/** Count-weighted mean of the batches' means and unbiased variances of x·W, in float64. */
function byHand(t: Trainer): { mean: number[]; variance: number[] } {
  const kernel = paramByName(t.network.params, 'hidden0/dense/kernel').variable.dataSync();
  const rows = t.data.trainRows;
  const mean = new Array(UNITS).fill(0);
  const variance = new Array(UNITS).fill(0);
  let counted = 0;
  for (let start = 0; start < rows.length; start += BATCH) {
    const batch = Array.from(rows.subarray(start, start + BATCH));
    if (batch.length < 2) continue;
    for (let u = 0; u < UNITS; u++) {
      const z = batch.map((r) => {
        let s = 0;
        for (let j = 0; j < INPUTS; j++) s += t.data.x[r * INPUTS + j] * kernel[j * UNITS + u];
        return s;
      });
      const mu = z.reduce((a, b) => a + b, 0) / z.length;
      const unbiased = z.reduce((a, b) => a + (b - mu) ** 2, 0) / (z.length - 1);
      mean[u] += batch.length * mu;
      variance[u] += batch.length * unbiased;
    }
    counted += batch.length;
  }
  return { mean: mean.map((v) => v / counted), variance: variance.map((v) => v / counted) };
}

function bnLayers(t: Trainer): BatchNormalization[] {
  return t.network.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
}

describe('batch statistics recomputed for the final weights', () => {
  before(useWasmBackend);

  for (const normalization of ['batch', 'sync-batch']) {
    test(`${normalization}: the running statistics become the batches' statistics under the current weights`, async () => {
      const t = trainer(normalization);
      try {
        while (!t.done) await t.runEpoch();
        const [first, second] = bnLayers(t);
        const averaged = {
          mean: Array.from(first.movingMean.dataSync()),
          variance: Array.from(first.movingVariance.dataSync()),
        };
        const secondBefore = Array.from(second.movingVariance.dataSync());
        const startWeight = first.startWeight.dataSync()[0];
        const rng = t.checkpoint().rng;
        await t.recomputeBatchStatistics();
        const expected = byHand(t);
        const mean = first.movingMean.dataSync();
        const variance = first.movingVariance.dataSync();
        for (let u = 0; u < UNITS; u++) {
          const sd = Math.sqrt(expected.variance[u]);
          assert.ok(
            Math.abs(mean[u] - expected.mean[u]) <= 1e-4 * (sd + Math.abs(expected.mean[u])),
            `unit ${u}: mean ${mean[u]} vs ${expected.mean[u]}`,
          );
          assert.ok(
            Math.abs(variance[u] / expected.variance[u] - 1) <= 1e-4,
            `unit ${u}: variance ${variance[u]} vs ${expected.variance[u]}`,
          );
        }
        // The check can fail: the running averages of the moving weights were measurably elsewhere.
        const gap = Math.max(...averaged.variance.map((v, u) => Math.abs(v / expected.variance[u] - 1)));
        assert.ok(gap > 1e-3, `running averages indistinguishable from the recount (largest relative gap ${gap})`);
        assert.notDeepEqual(
          Array.from(second.movingVariance.dataSync()),
          secondBefore,
          'the second layer is recounted too',
        );
        // The running averages' own clock and the trainer's random stream are untouched.
        assert.equal(first.startWeight.dataSync()[0], startWeight);
        assert.deepEqual(t.checkpoint().rng, rng);
      } finally {
        t.dispose();
      }
    });
  }

  test('deterministic with dropout feeding batch norm: two recounts give the same statistics', async () => {
    const t = trainer('batch', 0.3);
    try {
      while (!t.done) await t.runEpoch();
      await t.recomputeBatchStatistics();
      const once = t.network.getWeights();
      await t.recomputeBatchStatistics();
      const twice = t.network.getWeights();
      for (const name of Object.keys(once)) assert.deepEqual(twice[name], once[name], name);
    } finally {
      t.dispose();
    }
  });

  test('nothing changes without a batch-statistics layer', async () => {
    const t = trainer('layer');
    try {
      await t.runEpoch();
      const before = t.network.getWeights();
      await t.recomputeBatchStatistics();
      const after = t.network.getWeights();
      for (const name of Object.keys(before)) assert.deepEqual(after[name], before[name], name);
    } finally {
      t.dispose();
    }
  });
});
