import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Dropout } from '../../src/ml/layers/dropout';
import { GaussianDropout } from '../../src/ml/layers/gaussian-dropout';
import type { Layer } from '../../src/ml/layers/layer';
import { Rng } from '../../src/random';
import { take, useWasmBackend } from '../helpers/tf';

const ROWS = 400;
const COLS = 50;
const N = ROWS * COLS; // 20,000 independent multipliers

/** Distinct non-zero inputs 0.5, 0.75, …, so y/x recovers each unit's multiplier. */
function input(): { x: tf.Tensor2D; values: Float32Array } {
  const values = new Float32Array(N);
  for (let i = 0; i < N; i++) values[i] = (i % 2 === 0 ? 1 : -1) * (0.5 + (i % COLS) * 0.25);
  return { x: tf.tensor2d(values, [ROWS, COLS]), values };
}

/** The multipliers y/x of one training pass. */
function multipliers(layer: Layer, seed: number): number[] {
  const { x, values } = input();
  const y = take(tf.tidy(() => layer.apply(x, { training: true, rng: new Rng(seed), bufferUpdates: [] })));
  x.dispose();
  return Array.from(y, (v, i) => v / values[i]);
}

/** Sample mean, variance (divide by n − 1) and kurtosis E[(m − μ)⁴]/σ⁴. */
function moments(m: number[]): { mean: number; variance: number; kurtosis: number } {
  const n = m.length;
  const mean = m.reduce((s, v) => s + v, 0) / n;
  const c2 = m.reduce((s, v) => s + (v - mean) ** 2, 0);
  const c4 = m.reduce((s, v) => s + (v - mean) ** 4, 0);
  return { mean, variance: c2 / (n - 1), kurtosis: c4 / n / (c2 / n) ** 2 };
}

describe('GaussianDropout', () => {
  before(useWasmBackend);

  for (const rate of [0.2, 0.5]) {
    test(`rate ${rate}: multipliers ~ N(1, rate/(1−rate)), never zero (fixed seed, 4σ bounds)`, () => {
      const m = multipliers(new GaussianDropout({ name: 'gd', rate }), 1234);
      const s2 = rate / (1 - rate); // 0.25 or 1
      const { mean, variance, kurtosis } = moments(m);
      // Standard errors for n = 20,000 normal draws: mean sqrt(s²/n); variance s²·sqrt(2/(n−1));
      // kurtosis sqrt(24/n) ≈ 0.035 around 3 (a uniform noise of the same variance would give 1.8).
      const seMean = Math.sqrt(s2 / N);
      const seVar = s2 * Math.sqrt(2 / (N - 1));
      assert.ok(Math.abs(mean - 1) <= 4 * seMean, `mean ${mean}, expected 1 ± ${4 * seMean}`);
      assert.ok(Math.abs(variance - s2) <= 4 * seVar, `variance ${variance}, expected ${s2} ± ${4 * seVar}`);
      assert.ok(Math.abs(kurtosis - 3) <= 4 * Math.sqrt(24 / N), `kurtosis ${kurtosis}, expected 3`);
      assert.ok(
        m.every((v) => v !== 0),
        'Gaussian dropout zeroed a unit',
      );
    });
  }

  test('the same mean and variance as inverted dropout’s multiplier Bernoulli(1 − rate)/(1 − rate)', () => {
    const rate = 0.3;
    const keep = 1 - rate;
    const s2 = rate / keep;
    // Standard error of a sample variance: sqrt((μ4 − σ⁴)/n). Inverted: m − 1 is −1 with
    // probability rate and rate/keep with probability keep; Gaussian: μ4 = 3σ⁴.
    const seVar = {
      inverted: Math.sqrt((rate + keep * (rate / keep) ** 4 - s2 ** 2) / N), // ≈ 0.0026
      gaussian: Math.sqrt((2 * s2 ** 2) / N), // ≈ 0.0043
    };
    const inverted = moments(multipliers(new Dropout({ name: 'd', rate }), 99));
    const gaussian = moments(multipliers(new GaussianDropout({ name: 'gd', rate }), 99));
    for (const [name, stats] of [
      ['inverted', inverted],
      ['gaussian', gaussian],
    ] as const) {
      assert.ok(Math.abs(stats.mean - 1) <= 4 * Math.sqrt(s2 / N), `${name} mean ${stats.mean}`);
      assert.ok(Math.abs(stats.variance - s2) <= 4 * seVar[name], `${name} variance ${stats.variance} vs ${s2}`);
    }
  });

  test('inference mode is the identity, bitwise; rate 0 too', () => {
    const { x, values } = input();
    for (const [layer, training] of [
      [new GaussianDropout({ name: 'gd', rate: 0.5 }), false],
      [new GaussianDropout({ name: 'gd', rate: 0 }), true],
    ] as const) {
      const y = tf.tidy(() => layer.apply(x, { training, rng: new Rng(1) }));
      assert.deepEqual(Float32Array.from(y.dataSync()), values);
      if (y !== x) y.dispose();
    }
    x.dispose();
  });

  test('the same seed gives the same noise; training without an rng is an error', () => {
    const layer = new GaussianDropout({ name: 'gd', rate: 0.4 });
    assert.deepEqual(multipliers(layer, 5), multipliers(layer, 5));
    assert.notDeepEqual(multipliers(layer, 5), multipliers(layer, 6));
    const x = tf.ones<tf.Rank.R2>([2, 2]);
    assert.throws(() => tf.tidy(() => layer.apply(x, { training: true })), /rng/);
    x.dispose();
    assert.throws(() => new GaussianDropout({ name: 'gd', rate: 1 }), /received 1/);
  });
});
