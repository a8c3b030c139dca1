import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { createAugmenter, sampleBeta } from '../../src/ml/augmentation';
import { Rng } from '../../src/random';
import { useWasmBackend } from '../helpers/tf';

describe('augmentation', () => {
  before(useWasmBackend);

  test('no augmentation asked, no augmenter', () => {
    assert.equal(createAugmenter({}, Float32Array.of(1)), null);
  });

  test('Gaussian noise perturbs numeric inputs with the stated σ and leaves one-hot inputs alone', () => {
    const rows = 4000;
    // Columns: numeric, one-hot, one-hot, numeric.
    const mask = Float32Array.of(1, 0, 0, 1);
    const x = tf.tidy<tf.Tensor2D>(() => tf.tile(tf.tensor2d([[0.5, 1, 0, -2]]), [rows, 1]));
    const y = tf.zeros<tf.Rank.R2>([rows, 2]);
    const augmenter = createAugmenter({ gaussianNoise: 0.3 }, mask)!;
    const out = tf.tidy(() => augmenter.apply(x, y, new Rng(1)).x.dataSync());
    for (const [col, base] of [
      [0, 0.5],
      [3, -2],
    ] as const) {
      const values = Array.from({ length: rows }, (_, r) => out[r * 4 + col] - base);
      const mean = values.reduce((a, b) => a + b, 0) / rows;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / rows);
      // Standard error of the mean: 0.3/√4000 ≈ 0.0047; 4σ ≈ 0.019. Of the sd: ≈ 0.3/√8000 ≈ 0.0034.
      assert.ok(Math.abs(mean) < 0.019, `column ${col} noise mean ${mean}`);
      assert.ok(Math.abs(sd - 0.3) < 0.015, `column ${col} noise sd ${sd}`);
    }
    for (let r = 0; r < rows; r++) {
      assert.equal(out[r * 4 + 1], 1);
      assert.equal(out[r * 4 + 2], 0);
    }
    tf.dispose([x, y]);
  });

  test('mixup blends rows and their targets with the same weight', () => {
    const x = tf.tensor2d([[0], [1], [2], [3], [4], [5]]);
    const y = tf.tensor2d([
      [1, 0],
      [0, 1],
      [1, 0],
      [0, 1],
      [1, 0],
      [0, 1],
    ]);
    const augmenter = createAugmenter({ mixup: 0.4 }, Float32Array.of(1))!;
    const { xs, ys } = tf.tidy(() => {
      const out = augmenter.apply(x, y, new Rng(3));
      return { xs: out.x.dataSync(), ys: out.y.dataSync() };
    });
    const xIn = [0, 1, 2, 3, 4, 5];
    const yOf = (i: number) => (i % 2 === 0 ? [1, 0] : [0, 1]);
    for (let r = 0; r < 6; r++) {
      // x' = λ·x_r + (1−λ)·x_p for some partner p; the same λ and p must explain y'.
      const explained = xIn.some((xp, p) => {
        if (xp === xIn[r]) return Math.abs(xs[r] - xIn[r]) < 1e-6 && Math.abs(ys[2 * r] - yOf(r)[0]) < 1e-6;
        const lambda = (xs[r] - xp) / (xIn[r] - xp);
        if (lambda < -1e-6 || lambda > 1 + 1e-6) return false;
        const expected = yOf(r).map((v, k) => lambda * v + (1 - lambda) * yOf(p)[k]);
        return Math.abs(ys[2 * r] - expected[0]) < 1e-5 && Math.abs(ys[2 * r + 1] - expected[1]) < 1e-5;
      });
      assert.ok(explained, `row ${r}: x' ${xs[r]}, y' ${ys[2 * r]},${ys[2 * r + 1]}`);
    }
    tf.dispose([x, y]);
  });

  test('Beta(α, α) samples have mean 1/2 and variance 1/(4(2α+1))', () => {
    for (const alpha of [0.2, 1, 4]) {
      const rng = new Rng(9);
      const n = 20_000;
      const s = Array.from({ length: n }, () => sampleBeta(alpha, rng));
      const mean = s.reduce((a, b) => a + b, 0) / n;
      const variance = s.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
      const expected = 1 / (4 * (2 * alpha + 1));
      // 4 standard errors of the mean: 4·√(var/n).
      assert.ok(Math.abs(mean - 0.5) < 4 * Math.sqrt(expected / n), `α ${alpha}: mean ${mean}`);
      assert.ok(Math.abs(variance - expected) / expected < 0.05, `α ${alpha}: variance ${variance} vs ${expected}`);
      assert.ok(s.every((v) => v >= 0 && v <= 1));
    }
  });
});
