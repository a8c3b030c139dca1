import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { BatchNormalization } from '../../src/ml/layers/batch-normalization';
import type { BufferUpdate } from '../../src/ml/layers/layer';
import { assertClose, rowsOf, setVariable, take, useWasmBackend } from '../helpers/tf';

// Float32 arithmetic on values of order 1–10: 1e-5 absolute is ~100 float32 ulps.
const TOL = 1e-5;

const UNITS = 3;
// 4 rows × 3 features, deliberately with different means and spreads per feature.
const X = [
  [1.0, -2.0, 10.0],
  [2.0, 0.5, 12.0],
  [4.0, 1.5, 9.0],
  [-1.0, 3.0, 11.5],
];
const GAMMA = [1.5, 0.5, -2.0];
const BETA = [0.1, -0.3, 2.0];
const START_MEAN = [0.5, -0.25, 3.0];
const START_VAR = [2.0, 0.5, 4.0];

/** Per-feature mean and BIASED variance (divide by n): μ_j = Σ_i x_ij / n, σ²_j = Σ_i (x_ij − μ_j)² / n. */
function batchStats(rows: number[][]): { mean: number[]; variance: number[]; unbiased: number[] } {
  const n = rows.length;
  const cols = rows[0].length;
  const mean: number[] = [];
  const variance: number[] = [];
  const unbiased: number[] = [];
  for (let j = 0; j < cols; j++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += rows[i][j];
    const mu = sum / n;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += (rows[i][j] - mu) ** 2;
    mean.push(mu);
    variance.push(sq / n);
    unbiased.push(sq / (n - 1));
  }
  return { mean, variance, unbiased };
}

/** y_ij = (x_ij − μ_j) / sqrt(σ²_j + ε) · γ_j + β_j, row-major. */
function normalizeByHand(
  rows: number[][],
  mean: number[],
  variance: number[],
  gamma: number[],
  beta: number[],
  epsilon: number,
): number[] {
  const out: number[] = [];
  for (const row of rows) {
    row.forEach((x, j) => out.push(((x - mean[j]) / Math.sqrt(variance[j] + epsilon)) * gamma[j] + beta[j]));
  }
  return out;
}

function makeLayer(momentum = 0.9, epsilon = 1e-3): BatchNormalization {
  const layer = new BatchNormalization({ name: 'bn', units: UNITS, momentum, epsilon });
  setVariable(layer.gamma, GAMMA);
  setVariable(layer.beta, BETA);
  setVariable(layer.movingMean, START_MEAN);
  setVariable(layer.movingVariance, START_VAR);
  return layer;
}

/** One training forward pass, then the buffer updates applied the way the trainer applies them. */
function trainingStep(layer: BatchNormalization, rows: number[][]): Float32Array {
  const updates: BufferUpdate[] = [];
  const y = take(tf.tidy(() => layer.apply(tf.tensor2d(rows), { training: true, bufferUpdates: updates })));
  for (const update of updates) {
    update.variable.assign(update.value);
    update.value.dispose();
  }
  return y;
}

function infer(layer: BatchNormalization, rows: number[][]): Float32Array {
  return take(tf.tidy(() => layer.apply(tf.tensor2d(rows), { training: false })));
}

describe('BatchNormalization', () => {
  before(useWasmBackend);

  test('training mode normalizes with the batch mean and biased batch variance, then γ and β', () => {
    const layer = makeLayer(0.9, 1e-3);
    const { mean, variance } = batchStats(X);
    const expected = normalizeByHand(X, mean, variance, GAMMA, BETA, 1e-3);
    assertClose(trainingStep(layer, X), expected, TOL, 'training output');
  });

  test('running statistics follow Keras: running = m·running + (1−m)·batch, biased variance', () => {
    const m = 0.9;
    const layer = makeLayer(m);
    trainingStep(layer, X);
    const { mean, variance, unbiased } = batchStats(X);
    const expectedMean = START_MEAN.map((r, j) => m * r + (1 - m) * mean[j]);
    const expectedVar = START_VAR.map((r, j) => m * r + (1 - m) * variance[j]);
    assertClose(layer.movingMean.dataSync(), expectedMean, TOL, 'moving mean');
    assertClose(layer.movingVariance.dataSync(), expectedVar, TOL, 'moving variance');

    // The check above can tell the conventions apart: PyTorch's (weights swapped) and an unbiased
    // stored variance both land far outside the tolerance on this data.
    const pytorchMean = START_MEAN.map((r, j) => (1 - m) * r + m * mean[j]);
    const unbiasedVar = START_VAR.map((r, j) => m * r + (1 - m) * unbiased[j]);
    assert.ok(Math.abs(pytorchMean[0] - expectedMean[0]) > 100 * TOL);
    assert.ok(Math.abs(unbiasedVar[0] - expectedVar[0]) > 100 * TOL);
  });

  test('a second step compounds: running₂ = m·(m·r₀ + (1−m)·b₁) + (1−m)·b₂', () => {
    const m = 0.9;
    const layer = makeLayer(m);
    const second = X.map((row) => row.map((v, j) => v * (j + 2) - 1));
    trainingStep(layer, X);
    trainingStep(layer, second);
    const b1 = batchStats(X);
    const b2 = batchStats(second);
    const expectedMean = START_MEAN.map((r, j) => m * (m * r + (1 - m) * b1.mean[j]) + (1 - m) * b2.mean[j]);
    const expectedVar = START_VAR.map(
      (r, j) => m * (m * r + (1 - m) * b1.variance[j]) + (1 - m) * b2.variance[j],
    );
    assertClose(layer.movingMean.dataSync(), expectedMean, TOL, 'moving mean');
    assertClose(layer.movingVariance.dataSync(), expectedVar, 1e-4, 'moving variance'); // values ~40
  });

  test('defaults are momentum 0.99 and epsilon 0.001 (Keras)', () => {
    const layer = new BatchNormalization({ name: 'bn', units: UNITS });
    // Fresh buffers: running mean 0, running variance 1; γ = 1, β = 0.
    const y = trainingStep(layer, X);
    const { mean, variance } = batchStats(X);
    assertClose(y, normalizeByHand(X, mean, variance, [1, 1, 1], [0, 0, 0], 1e-3), TOL, 'output (ε = 1e-3)');
    assertClose(layer.movingMean.dataSync(), mean.map((b) => 0.99 * 0 + 0.01 * b), TOL, 'moving mean');
    assertClose(layer.movingVariance.dataSync(), variance.map((b) => 0.99 * 1 + 0.01 * b), TOL, 'moving var');
  });

  test('inference mode uses the running statistics and leaves them alone', () => {
    const layer = makeLayer(0.9);
    trainingStep(layer, X);
    const runningMean = Array.from(layer.movingMean.dataSync());
    const runningVar = Array.from(layer.movingVariance.dataSync());
    const rows = [
      [0.0, 0.0, 0.0],
      [3.0, -1.0, 8.0],
    ];
    const updates: BufferUpdate[] = [];
    const y = take(tf.tidy(() => layer.apply(tf.tensor2d(rows), { training: false, bufferUpdates: updates })));
    assertClose(y, normalizeByHand(rows, runningMean, runningVar, GAMMA, BETA, 1e-3), TOL, 'inference output');
    assert.equal(updates.length, 0, 'inference must not schedule buffer updates');
    assert.deepEqual(Array.from(layer.movingMean.dataSync()), runningMean);
    assert.deepEqual(Array.from(layer.movingVariance.dataSync()), runningVar);
  });

  test('inference output for a row does not depend on the other rows (bitwise)', () => {
    const layer = makeLayer(0.9);
    trainingStep(layer, X);
    const batch = infer(layer, X);
    X.forEach((row, i) => {
      const alone = infer(layer, [row]);
      assert.deepEqual(alone, batch.subarray(i * UNITS, (i + 1) * UNITS), `row ${i}`);
    });
    // And within a different batch.
    const other = infer(layer, [X[2], [100, -100, 0], X[0]]);
    assert.deepEqual(other.subarray(0, UNITS), batch.subarray(2 * UNITS, 3 * UNITS));
    assert.deepEqual(other.subarray(2 * UNITS), batch.subarray(0, UNITS));
  });

  test('training output for a row DOES depend on the other rows', () => {
    const layer = makeLayer(0.9);
    const a = rowsOf(trainingStep(layer, [X[0], X[1]]), UNITS)[0];
    const b = rowsOf(trainingStep(layer, [X[0], X[2], X[3]]), UNITS)[0];
    // Hand values for row 0 in each batch, so the difference is the formula's, not noise.
    const statsA = batchStats([X[0], X[1]]);
    const statsB = batchStats([X[0], X[2], X[3]]);
    assertClose(a, normalizeByHand([X[0]], statsA.mean, statsA.variance, GAMMA, BETA, 1e-3), TOL, 'batch A');
    assertClose(b, normalizeByHand([X[0]], statsB.mean, statsB.variance, GAMMA, BETA, 1e-3), TOL, 'batch B');
    assert.ok(
      a.some((v, j) => Math.abs(v - b[j]) > 0.1),
      `row 0 gave the same training output in two different batches: ${a} vs ${b}`,
    );
  });

  test('rejects a momentum outside (0, 1) and a non-positive epsilon', () => {
    assert.throws(() => new BatchNormalization({ name: 'bn', units: 2, momentum: 1 }), /momentum/);
    assert.throws(() => new BatchNormalization({ name: 'bn', units: 2, momentum: 0 }), /momentum/);
    assert.throws(() => new BatchNormalization({ name: 'bn', units: 2, epsilon: 0 }), /epsilon/);
  });
});
