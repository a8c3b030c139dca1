import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Dropout } from '../../src/ml/layers/dropout';
import { Rng } from '../../src/random';
import { take, useWasmBackend } from '../helpers/tf';

/** A [rows, cols] input whose every entry is non-zero and distinct enough to spot a wrong scale. */
function input(rows: number[][] | { rows: number; cols: number }): tf.Tensor2D {
  if (Array.isArray(rows)) return tf.tensor2d(rows);
  const values = new Float32Array(rows.rows * rows.cols);
  for (let i = 0; i < values.length; i++) values[i] = 0.5 + (i % rows.cols) * 0.25; // 0.5, 0.75, …
  return tf.tensor2d(values, [rows.rows, rows.cols]);
}

function train(layer: Dropout, x: tf.Tensor2D, seed: number): Float32Array {
  return take(tf.tidy(() => layer.apply(x, { training: true, rng: new Rng(seed), bufferUpdates: [] })));
}

describe('Dropout', () => {
  before(useWasmBackend);

  test('inference mode is the identity, bitwise', () => {
    const layer = new Dropout({ name: 'drop', rate: 0.5 });
    const x = input([
      [1.5, -2.25, 1e-30, 3.4028e38],
      [-0, 0.1, -7, 42],
    ]);
    const xs = Float32Array.from(x.dataSync());
    const y = tf.tidy(() => layer.apply(x, { training: false }));
    assert.deepEqual(Float32Array.from(y.dataSync()), xs);
    tf.dispose([x, y]); // y may be x itself
  });

  test('training zeroes about `rate` of the units and scales the kept ones by exactly 1/(1−rate)', () => {
    const rate = 0.3;
    const layer = new Dropout({ name: 'drop', rate });
    const x = input({ rows: 200, cols: 50 });
    const xs = x.dataSync();
    const y = train(layer, x, 11);
    x.dispose();

    let dropped = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i] === 0) {
        dropped++;
        continue;
      }
      // Kept: y = x / (1 − rate). Relative 1e-6 allows the ~1 ulp of rounding 1/(1 − rate) and
      // the product to float32; any other scale (x, x·(1 − rate), x/rate) is off by > 40 %.
      const expected = xs[i] / (1 - rate);
      assert.ok(
        Math.abs(y[i] - expected) <= 1e-6 * expected,
        `unit ${i}: kept value ${y[i]} is not x/(1−rate) = ${expected}`,
      );
    }
    // The number dropped is Binomial(n, rate): mean n·rate = 3000, std sqrt(n·rate·(1−rate)) ≈ 45.8.
    // Four standard deviations (≈ 183) — and the seed is fixed, so this never flakes.
    const n = y.length;
    const mean = n * rate;
    const std = Math.sqrt(n * rate * (1 - rate));
    assert.ok(Math.abs(dropped - mean) <= 4 * std, `dropped ${dropped} of ${n}, expected ${mean} ± ${4 * std}`);
  });

  test('the mean of many training outputs is the input (inverted dropout keeps the expectation)', () => {
    // Each unit's output is x·B/keep with B ~ Bernoulli(keep): mean x, variance x²·rate/keep.
    // Averaging K independent draws: std of the mean = x·sqrt(rate / (keep·K)).
    // K rows of the same input are K independent draws per unit.
    const rate = 0.4;
    const keep = 1 - rate;
    const K = 4000;
    const cols = 20;
    const layer = new Dropout({ name: 'drop', rate });
    const x = input({ rows: K, cols });
    const xs = Array.from(x.dataSync().subarray(0, cols));
    const y = train(layer, x, 2024);
    x.dispose();

    const sums = new Array<number>(cols).fill(0);
    for (let i = 0; i < y.length; i++) sums[i % cols] += y[i];
    const relStd = Math.sqrt(rate / (keep * K)); // ≈ 0.0129
    let pooled = 0;
    for (let j = 0; j < cols; j++) {
      const mean = sums[j] / K;
      pooled += mean / xs[j];
      // 4σ per unit.
      assert.ok(
        Math.abs(mean - xs[j]) <= 4 * relStd * xs[j],
        `unit ${j}: mean ${mean}, input ${xs[j]}, allowed ±${4 * relStd * xs[j]}`,
      );
    }
    // Pooled over all units (mean of mean/x): std relStd/sqrt(cols); 4σ ≈ 1.2 %.
    pooled /= cols;
    assert.ok(Math.abs(pooled - 1) <= (4 * relStd) / Math.sqrt(cols), `pooled ratio ${pooled}`);
  });

  test('the same rng seed gives the same mask; another seed gives another', () => {
    const layer = new Dropout({ name: 'drop', rate: 0.5 });
    const x = input({ rows: 8, cols: 16 });
    const a = train(layer, x, 7);
    const b = train(layer, x, 7);
    const c = train(layer, x, 8);
    x.dispose();
    assert.deepEqual(a, b);
    const differ = a.reduce((count, v, i) => count + ((v === 0) !== (c[i] === 0) ? 1 : 0), 0);
    // Two independent masks disagree on each unit with probability 2·0.5·0.5 = 0.5: ~64 of 128.
    assert.ok(differ > 20, `seeds 7 and 8 gave nearly the same mask (${differ} of 128 units differ)`);
  });

  test('successive calls with one rng draw fresh masks', () => {
    const layer = new Dropout({ name: 'drop', rate: 0.5 });
    const x = input({ rows: 8, cols: 16 });
    const rng = new Rng(99);
    const first = take(tf.tidy(() => layer.apply(x, { training: true, rng })));
    const second = take(tf.tidy(() => layer.apply(x, { training: true, rng })));
    x.dispose();
    assert.notDeepEqual(first, second);
  });

  test('rate 0 is the identity even in training; rates outside [0, 1) are refused', () => {
    const layer = new Dropout({ name: 'drop', rate: 0 });
    const x = input({ rows: 3, cols: 4 });
    const xs = Float32Array.from(x.dataSync());
    const y = tf.tidy(() => layer.apply(x, { training: true, rng: new Rng(1) }));
    assert.deepEqual(Float32Array.from(y.dataSync()), xs);
    tf.dispose([x, y]); // y may be x itself
    assert.throws(() => new Dropout({ name: 'drop', rate: 1 }), /rate/);
    assert.throws(() => new Dropout({ name: 'drop', rate: -0.1 }), /rate/);
  });

  test('training mode without an rng is an error, not silent unseeded randomness', () => {
    const layer = new Dropout({ name: 'drop', rate: 0.5 });
    const x = input({ rows: 2, cols: 2 });
    assert.throws(() => tf.tidy(() => layer.apply(x, { training: true })), /rng/);
    x.dispose();
  });
});
