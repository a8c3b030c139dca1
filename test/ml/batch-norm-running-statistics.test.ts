import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchNormalization } from '../../src/ml/layers/batch-normalization';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { paramByName, setVariable, useWasmBackend } from '../helpers/tf';

/**
 * Batch norm's running statistics are ready when the first epoch's metrics read them (issue 10):
 * after one epoch of 8 steps they are the training set's statistics under the epoch's final
 * weights, to within what the weights moved during the epoch. With the plain Keras rule at
 * m = 0.99 they had moved 1 − 0.99⁸ ≈ 8 % of the way from (0, 1).
 */

const INPUTS = 5;
const UNITS = 16;

/** Inputs with mean 3 and standard deviation 2 (not standardized: the batch-norm input has a mean far from 0). */
function data(rows = 320, validation = 64): TrainingData {
  const rng = new Rng(23);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const x = new Float32Array(rows * INPUTS);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < INPUTS; j++) {
      const v = 3 + 2 * normal();
      x[i * INPUTS + j] = v;
      s += (j % 2 ? 1 : -1) * (v - 3);
    }
    y[i] = s + normal() > 0 ? 1 : 0;
  }
  return {
    task: 'classification',
    x,
    y,
    inputSize: INPUTS,
    outputSize: 2,
    trainRows: Int32Array.from({ length: rows - validation }, (_, i) => i),
    validationRows: Int32Array.from({ length: validation }, (_, i) => rows - validation + i),
  };
}

function trainer(normalization: unknown, epochs = 1): Trainer {
  return new Trainer(data(), {
    hidden: [hiddenLayerSchema.parse({ units: UNITS, normalization })],
    regularization: regularizationSchema.parse({}),
    epochs,
    batchSize: 32, // 256 training rows: 8 steps an epoch
    optimizer: 'adam',
    learningRate: 0.001,
    seed: 4,
  });
}

function bnLayer(t: Trainer): BatchNormalization {
  return t.network.layers.find((l): l is BatchNormalization => l instanceof BatchNormalization)!;
}

/** Mean and biased variance of x·W (the bias-free Dense feeding batch norm) over every training row, in float64. */
function trainingSetStats(t: Trainer): { mean: number[]; variance: number[] } {
  const kernel = paramByName(t.network.params, 'hidden0/dense/kernel').variable.dataSync();
  const rows = t.data.trainRows;
  const z = Array.from(rows, (r) =>
    Array.from({ length: UNITS }, (_, u) => {
      let s = 0;
      for (let j = 0; j < INPUTS; j++) s += t.data.x[r * INPUTS + j] * kernel[j * UNITS + u];
      return s;
    }),
  );
  const mean = Array.from({ length: UNITS }, (_, u) => z.reduce((s, row) => s + row[u], 0) / rows.length);
  const variance = mean.map((mu, u) => z.reduce((s, row) => s + (row[u] - mu) ** 2, 0) / rows.length);
  return { mean, variance };
}

describe('batch norm running statistics after the first epoch', () => {
  before(useWasmBackend);

  for (const normalization of ['batch', 'sync-batch'] as const) {
    test(`${normalization}: after one epoch of 8 steps the running statistics are the training set's`, async () => {
      const t = trainer(normalization);
      try {
        const metrics = await t.runEpoch();
        const bn = bnLayer(t);
        const truth = trainingSetStats(t);
        const mean = bn.movingMean.dataSync();
        const variance = bn.movingVariance.dataSync();
        for (let u = 0; u < UNITS; u++) {
          const sd = Math.sqrt(truth.variance[u]);
          // The weights moved during the epoch (the stored variance is the batches' unbiased
          // variance, an unbiased estimate of the set's): a few percent, not more.
          assert.ok(
            Math.abs(mean[u] - truth.mean[u]) <= 0.05 * sd,
            `unit ${u}: running mean ${mean[u]}, training set ${truth.mean[u]} (σ ${sd})`,
          );
          assert.ok(
            Math.abs(variance[u] / truth.variance[u] - 1) <= 0.1,
            `unit ${u}: running variance ${variance[u]}, training set ${truth.variance[u]}`,
          );
        }
        // And the first epoch's validation loss is the one the training set's statistics give.
        setVariable(bn.movingMean, truth.mean);
        setVariable(bn.movingVariance, truth.variance);
        const exact = t.evaluate(t.data.validationRows).loss;
        assert.ok(
          Math.abs(metrics!.valLoss! - exact) <= 0.02 * exact,
          `epoch 1 valLoss ${metrics!.valLoss}, with the training set's statistics ${exact}`,
        );
      } finally {
        t.dispose();
      }
    });
  }

  test('the start weight is in the checkpoint: resuming after epoch 1 gives epoch 2 exactly', async () => {
    const straight = trainer('batch', 2);
    await straight.runEpoch();
    const checkpoint = structuredClone(straight.checkpoint());
    await straight.runEpoch();
    const expected = straight.network.getWeights();
    straight.dispose();
    assert.ok('hidden0/batch_norm/start_weight' in checkpoint.weights, 'the start weight is checkpointed');
    assert.ok(
      Math.abs(checkpoint.weights['hidden0/batch_norm/start_weight'][0] - 0.99 ** 8) < 1e-6,
      'mᵗ after 8 steps',
    );

    const resumed = trainer('batch', 2);
    try {
      resumed.restore(checkpoint);
      await resumed.runEpoch();
      const actual = resumed.network.getWeights();
      for (const name of Object.keys(expected)) assert.deepEqual(actual[name], expected[name], name);
    } finally {
      resumed.dispose();
    }

    // The check can fail: a checkpoint that lost the start weight resumes as a warm average.
    const { 'hidden0/batch_norm/start_weight': _dropped, ...older } = checkpoint.weights;
    const legacy = trainer('batch', 2);
    try {
      legacy.restore({ ...checkpoint, weights: older });
      assert.equal(
        bnLayer(legacy).startWeight.dataSync()[0],
        0,
        'weights saved before the start weight existed continue the plain Keras rule',
      );
      await legacy.runEpoch();
      const moved = legacy.network.getWeights()['hidden0/batch_norm/moving_mean'];
      assert.notDeepEqual(moved, expected['hidden0/batch_norm/moving_mean']);
      // Kernels do not depend on the running statistics: only they differ.
      assert.deepEqual(legacy.network.getWeights()['hidden0/dense/kernel'], expected['hidden0/dense/kernel']);
    } finally {
      legacy.dispose();
    }
  });
});
