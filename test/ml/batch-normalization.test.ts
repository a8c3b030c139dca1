import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { runFrozen } from '../../src/ml/frozen-model';
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

/**
 * A layer with running statistics START_MEAN / START_VAR and a long run behind it (startWeight
 * = 0): the start correction of its running average has vanished, so each step is the plain
 * Keras rule. A fresh layer's first steps are the tests further down.
 */
function makeLayer(momentum = 0.9, epsilon = 1e-3): BatchNormalization {
  const layer = new BatchNormalization({ name: 'bn', units: UNITS, momentum, epsilon });
  setVariable(layer.gamma, GAMMA);
  setVariable(layer.beta, BETA);
  setVariable(layer.movingMean, START_MEAN);
  setVariable(layer.movingVariance, START_VAR);
  setVariable(layer.startWeight, [0]);
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

  test('running statistics follow Keras: running = m·running + (1−m)·batch, unbiased variance', () => {
    const m = 0.9;
    const layer = makeLayer(m);
    trainingStep(layer, X);
    const { mean, variance, unbiased } = batchStats(X);
    const expectedMean = START_MEAN.map((r, j) => m * r + (1 - m) * mean[j]);
    const expectedVar = START_VAR.map((r, j) => m * r + (1 - m) * unbiased[j]);
    assertClose(layer.movingMean.dataSync(), expectedMean, TOL, 'moving mean');
    assertClose(layer.movingVariance.dataSync(), expectedVar, TOL, 'moving variance');

    // The check above can tell the conventions apart: PyTorch's momentum (weights swapped) and a
    // biased stored variance (Keras') both land far outside the tolerance on this data.
    const pytorchMean = START_MEAN.map((r, j) => (1 - m) * r + m * mean[j]);
    const biasedVar = START_VAR.map((r, j) => m * r + (1 - m) * variance[j]);
    assert.ok(Math.abs(pytorchMean[0] - expectedMean[0]) > 100 * TOL);
    assert.ok(Math.abs(biasedVar[0] - expectedVar[0]) > 100 * TOL);
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
    const expectedVar = START_VAR.map((r, j) => m * (m * r + (1 - m) * b1.unbiased[j]) + (1 - m) * b2.unbiased[j]);
    assertClose(layer.movingMean.dataSync(), expectedMean, TOL, 'moving mean');
    assertClose(layer.movingVariance.dataSync(), expectedVar, 1e-4, 'moving variance'); // values ~40
  });

  test('defaults are momentum 0.99 and epsilon 0.001 (Keras)', () => {
    const layer = new BatchNormalization({ name: 'bn', units: UNITS });
    // Fresh buffers: running mean 0, running variance 1, no steps; γ = 1, β = 0.
    assert.deepEqual(Array.from(layer.movingMean.dataSync()), [0, 0, 0]);
    assert.deepEqual(Array.from(layer.movingVariance.dataSync()), [1, 1, 1]);
    assert.equal(layer.startWeight.dataSync()[0], 1);
    const y = trainingStep(layer, X);
    const { mean, variance, unbiased } = batchStats(X);
    assertClose(y, normalizeByHand(X, mean, variance, [1, 1, 1], [0, 0, 0], 1e-3), TOL, 'output (ε = 1e-3)');
    // Once warm, a step moves the running statistics 1 % of the way (m = 0.99).
    setVariable(layer.movingMean, START_MEAN);
    setVariable(layer.movingVariance, START_VAR);
    setVariable(layer.startWeight, [0]);
    trainingStep(layer, X);
    assertClose(
      layer.movingMean.dataSync(),
      START_MEAN.map((r, j) => 0.99 * r + 0.01 * mean[j]),
      TOL,
      'moving mean',
    );
    assertClose(
      layer.movingVariance.dataSync(),
      START_VAR.map((r, j) => 0.99 * r + 0.01 * unbiased[j]),
      TOL,
      'moving var',
    );
  });

  test('a fresh layer: running = Σₖ (1−m)·mᵗ⁻ᵏ·bₖ / (1 − mᵗ), the Keras average from zero, bias-corrected', () => {
    const m = 0.9;
    const layer = new BatchNormalization({ name: 'bn', units: UNITS, momentum: m });
    const batches = [X, X.map((row) => row.map((v, j) => v * (j + 2) - 1)), X.map((row) => row.map((v) => 3 - v / 2))];
    const stats = batches.map(batchStats);
    batches.forEach((batch, i) => {
      trainingStep(layer, batch);
      const t = i + 1;
      // Written out as the sum (not the recursion the layer runs), from the batches seen so far.
      const corrected = (pick: (s: (typeof stats)[number]) => number[]) =>
        [0, 1, 2].map(
          (j) =>
            stats.slice(0, t).reduce((sum, s, k) => sum + (1 - m) * m ** (t - 1 - k) * pick(s)[j], 0) / (1 - m ** t),
        );
      assertClose(
        layer.movingMean.dataSync(),
        corrected((s) => s.mean),
        TOL,
        `step ${t}: moving mean`,
      );
      assertClose(
        layer.movingVariance.dataSync(),
        corrected((s) => s.unbiased),
        1e-4,
        `step ${t}: moving variance`,
      ); // values ~40
      assertClose(layer.startWeight.dataSync(), [m ** t], 1e-6, `step ${t}: start weight mᵗ`);
    });
    // Step 1 took the first batch's statistics exactly: the initial (0, 1) carries no weight.
    const fresh = new BatchNormalization({ name: 'bn', units: UNITS, momentum: 0.99 });
    trainingStep(fresh, X);
    assertClose(fresh.movingMean.dataSync(), stats[0].mean, TOL, 'first step, m = 0.99: mean');
    assertClose(fresh.movingVariance.dataSync(), stats[0].unbiased, TOL, 'first step, m = 0.99: variance');
  });

  test('the correction vanishes: after 200 steps at m = 0.9 (0.9²⁰⁰ < 2⁻²⁵) a step is the Keras rule', () => {
    const m = 0.9;
    const layer = new BatchNormalization({ name: 'bn', units: UNITS, momentum: m });
    for (let t = 0; t < 200; t++) trainingStep(layer, X);
    // mᵗ below float32's resolution: the batch's weight is then 1 − m itself.
    assert.ok(layer.startWeight.dataSync()[0] < 2 ** -25, `start weight ${layer.startWeight.dataSync()[0]}`);
    setVariable(layer.movingMean, START_MEAN);
    setVariable(layer.movingVariance, START_VAR);
    const second = X.map((row) => row.map((v) => v * 2 - 1));
    trainingStep(layer, second);
    const { mean, unbiased } = batchStats(second);
    assertClose(
      layer.movingMean.dataSync(),
      START_MEAN.map((r, j) => m * r + (1 - m) * mean[j]),
      1e-6,
      'moving mean',
    );
    assertClose(
      layer.movingVariance.dataSync(),
      START_VAR.map((r, j) => m * r + (1 - m) * unbiased[j]),
      1e-6,
      'moving var',
    );
  });

  test('the frozen form uses the corrected running statistics (a fresh layer after two steps)', () => {
    const layer = new BatchNormalization({ name: 'bn', units: UNITS, momentum: 0.99 });
    setVariable(layer.gamma, GAMMA);
    setVariable(layer.beta, BETA);
    trainingStep(layer, X);
    trainingStep(
      layer,
      X.map((row) => row.map((v) => v + 1)),
    );
    const runningMean = Array.from(layer.movingMean.dataSync());
    const runningVar = Array.from(layer.movingVariance.dataSync());
    // Both batches weigh almost alike ((1 − m)·m and (1 − m), over 1 − m²): the mean is ~0.5 above X's.
    const xMean = batchStats(X).mean;
    assertClose(
      runningMean,
      xMean.map((v) => v + 1 / (1 + 0.99)),
      TOL,
      'corrected running mean',
    );
    const probe = [
      [0, 1, 2],
      [3, -1, 8],
    ];
    const expected = normalizeByHand(probe, runningMean, runningVar, GAMMA, BETA, 1e-3);
    assertClose(infer(layer, probe), expected, TOL, 'inference');
    const frozen = { inputSize: UNITS, outputSize: UNITS, output: 'identity' as const, ops: layer.freeze() };
    assertClose(runFrozen(frozen, Float32Array.from(probe.flat()), 2), expected, TOL, 'frozen');
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
