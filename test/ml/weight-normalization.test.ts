import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Layer } from '../../src/ml/layers/layer';
import { WeightNormalizedDense } from '../../src/ml/layers/weight-normalized-dense';
import { Rng } from '../../src/random';
import { assertClose, setVariable, take, useWasmBackend } from '../helpers/tf';

// Kernel [inputSize 3, units 2], row-major: column j is unit j's direction v_j.
const V = [
  [3, 0],
  [4, 1],
  [0, -2],
];
const G = [10, 0.5];
const BIAS = [0.25, -1];
const X = [
  [1, 2, 3],
  [-1, 0.5, 0],
];

/** w_ij = g_j · v_ij / ‖v_j‖ with ‖v_j‖ = sqrt(Σ_i v_ij²): ‖v_0‖ = 5, ‖v_1‖ = sqrt(5). */
function handKernel(v: number[][], g: number[]): number[][] {
  const norms = g.map((_, j) => Math.sqrt(v.reduce((s, row) => s + row[j] ** 2, 0)));
  return v.map((row) => row.map((x, j) => (g[j] * x) / norms[j]));
}

/** y = x·W + b, row by row. */
function handDense(x: number[][], w: number[][], b: number[]): number[] {
  return x.flatMap((row) => b.map((bj, j) => row.reduce((s, xi, i) => s + xi * w[i][j], bj)));
}

function run(layer: Layer, x: number[][], training: boolean): Float32Array {
  return take(tf.tidy(() => layer.apply(tf.tensor2d(x), { training })));
}

describe('WeightNormalizedDense', () => {
  before(useWasmBackend);

  test('g starts at ‖v‖, so the initial w is v itself and the output is x·v + 0', () => {
    const layer = new WeightNormalizedDense({ name: 'wn', inputSize: 3, units: 2, rng: new Rng(4) });
    const v = Array.from(layer.v.dataSync());
    const rowsV = [v.slice(0, 2), v.slice(2, 4), v.slice(4, 6)];
    const norms = [0, 1].map((j) => Math.sqrt(rowsV.reduce((s, r) => s + r[j] ** 2, 0)));
    assertClose(layer.g.dataSync(), norms, 1e-6, 'g = ‖v‖');
    assertClose(take(tf.tidy(() => layer.kernel())), v, 1e-6, 'w = v');
    assertClose(run(layer, X, true), handDense(X, rowsV, [0, 0]), 1e-5, 'initial output');
  });

  test('w = g·v/‖v‖ per output unit, the same in training and inference', () => {
    const layer = new WeightNormalizedDense({ name: 'wn', inputSize: 3, units: 2, rng: new Rng(4) });
    setVariable(layer.v, V.flat());
    setVariable(layer.g, G);
    setVariable(layer.bias, BIAS);
    const w = handKernel(V, G); // column 0: 10·(3, 4, 0)/5 = (6, 8, 0)
    assert.deepEqual(
      w.map((r) => r[0]),
      [6, 8, 0],
    );
    assertClose(run(layer, X, true), handDense(X, w, BIAS), 1e-5, 'training');
    assertClose(run(layer, X, false), handDense(X, w, BIAS), 1e-5, 'inference');
    const [op] = layer.freeze();
    assert.equal(op.op, 'dense');
    assertClose(op.kernel, w.flat(), 1e-6, 'frozen kernel');
    assertClose(op.bias, BIAS, 0, 'frozen bias');
  });

  test('rescaling v changes nothing; the gradient with respect to v is orthogonal to v', () => {
    const layer = new WeightNormalizedDense({ name: 'wn', inputSize: 3, units: 2, rng: new Rng(4) });
    setVariable(layer.g, G);
    setVariable(layer.v, V.flat());
    const before = run(layer, X, true);
    setVariable(
      layer.v,
      V.flat().map((x) => x * 7),
    );
    assertClose(run(layer, X, true), before, 1e-5, 'scale invariance in v');
    // d/dv_j of g_j v_j/‖v_j‖ projects out v_j: Σ_i v_ij · dL/dv_ij = 0 for each unit j.
    const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(tf.tensor2d(X))), [layer.v]);
    const gv = take(grads[layer.v.name]);
    value.dispose();
    const v7 = V.map((r) => r.map((x) => x * 7));
    for (const j of [0, 1]) {
      const dot = v7.reduce((s, row, i) => s + row[j] * gv[i * 2 + j], 0);
      assert.ok(Math.abs(dot) < 1e-5, `unit ${j}: v·dL/dv = ${dot}`);
    }
  });

  test('a column of v that is all zeros gives w = 0 for that unit, not NaN', () => {
    const layer = new WeightNormalizedDense({ name: 'wn', inputSize: 3, units: 2, rng: new Rng(4) });
    setVariable(layer.v, [3, 0, 4, 0, 0, 0]);
    setVariable(layer.g, [5, 2]);
    const y = run(layer, X, true);
    assert.ok(y.every(Number.isFinite), `non-finite output ${y}`);
    assertClose(
      y,
      handDense(
        X,
        [
          [3, 0],
          [4, 0],
          [0, 0],
        ],
        [0, 0],
      ),
      1e-5,
      'output',
    );
    const [op] = layer.freeze();
    assert.ok(op.op === 'dense' && op.kernel.every(Number.isFinite));
  });

  test("a column of v shrunk to zero fades its unit out with a bounded gradient (≤ 10× a dense unit's)", () => {
    // What proximal L1 does to a column: scale it down to (exactly) zero. The gradient of
    // g·v/‖v‖ with respect to v is (g/‖v‖)(I − v̂v̂ᵀ)·G (G = xᵀ·dy, a plain dense unit's gradient),
    // unbounded as ‖v‖ → 0; below a tenth of the column's initial length the norm is floored, so
    // w fades to 0 with v and ‖dv‖ ≤ (g/(0.1·‖v₀‖))·‖G‖ = 10·‖G‖ here (g kept at ‖v₀‖).
    const layer = new WeightNormalizedDense({ name: 'wn', inputSize: 3, units: 2, rng: new Rng(4) });
    const v0 = Float32Array.from(layer.v.dataSync());
    const x = tf.tensor2d(X);
    const r = tf.tensor2d([
      [1, -2],
      [0.5, 3],
    ]);
    const column = (values: ArrayLike<number>) => [0, 1, 2].map((i) => values[i * 2 + 1]);
    const plainGradient = column(take(tf.tidy(() => tf.matMul(x, r, true, false))));
    const gradientOfV = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x, { training: true }), r)), [layer.v]);
      value.dispose();
      return take(grads[layer.v.name]);
    };
    for (const factor of [0.05, 1e-4, 1e-8, 0]) {
      setVariable(
        layer.v,
        v0.map((value, k) => (k % 2 === 1 ? value * factor : value)),
      );
      const dv = gradientOfV();
      assert.ok(dv.every(Number.isFinite), `factor ${factor}: non-finite gradient ${dv}`);
      const ratio = Math.hypot(...column(dv)) / Math.hypot(...plainGradient);
      assert.ok(ratio <= 10 * (1 + 1e-5), `factor ${factor}: ‖dv‖ is ${ratio.toPrecision(3)}× a dense unit's`);
      // The unit's output is x·w₁ (no bias): w₁ = g·v₁/(0.1·‖v₀‖) = 10·factor·v₀ below the floor.
      const y = run(layer, X, true);
      const expected = X.map((row) => row.reduce((s, xi, i) => s + xi * 10 * factor * v0[i * 2 + 1], 0));
      assertClose([y[1], y[3]], expected, 1e-5, `factor ${factor}: the fading unit`);
      const [op] = layer.freeze();
      assert.ok(op.op === 'dense');
      assertClose(op.kernel, take(tf.tidy(() => layer.kernel())), 1e-6, `factor ${factor}: frozen kernel`);
      assertClose(run(layer, X, false), y, 1e-6, `factor ${factor}: inference equals training`);
    }
    tf.dispose([x, r]);
  });

  test('v is the kernel (regularized), g a gain and the bias a bias (never regularized)', () => {
    const layer = new WeightNormalizedDense({ name: 'hidden0/wn', inputSize: 3, units: 2, rng: new Rng(4) });
    assert.deepEqual(
      layer.params.map((p) => [p.name, p.role]),
      [
        ['hidden0/wn/v', 'kernel'],
        ['hidden0/wn/g', 'gain'],
        ['hidden0/wn/bias', 'bias'],
      ],
    );
  });
});
