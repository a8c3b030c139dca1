import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { runFrozen } from '../../src/ml/frozen-model';
import { CosineDense } from '../../src/ml/layers/cosine-dense';
import type { Layer } from '../../src/ml/layers/layer';
import { Rng } from '../../src/random';
import { assertClose, setVariable, take, useWasmBackend } from '../helpers/tf';

// Kernel [inputSize 2, units 3]: unit 0 points along e0, unit 1 along (1, 1), unit 2 along (−3, 4).
const W = [
  [2, 1, -3],
  [0, 1, 4],
];
const X = [
  [1, 0],
  [3, 4],
  [0, 0], // all zero: guarded, gives 0
  [-2, 2],
];

/** y_j = s · (w_j·x) / (‖w_j‖·‖x‖), and 0 for x = 0. */
function handCosine(x: number[][], w: number[][], s: number): number[] {
  return x.flatMap((row) => {
    const nx = Math.hypot(...row);
    return w[0].map((_, j) => {
      const col = w.map((r) => r[j]);
      const dot = row.reduce((acc, xi, i) => acc + xi * col[i], 0);
      return nx === 0 ? 0 : (s * dot) / (Math.hypot(...col) * nx);
    });
  });
}

function run(layer: Layer, x: number[][], training = true): Float32Array {
  return take(tf.tidy(() => layer.apply(tf.tensor2d(x), { training })));
}

describe('CosineDense', () => {
  before(useWasmBackend);

  test('y = s·cos(w_j, x): exact cosines, the zero row guarded to 0', () => {
    const layer = new CosineDense({
      name: 'cos',
      inputSize: 2,
      units: 3,
      scale: 2,
      learnScale: false,
      rng: new Rng(1),
    });
    setVariable(layer.kernel, W.flat());
    const y = run(layer, X);
    // Row 1 = (3, 4): cos with e0 = 3/5, with (1, 1) = 7/(5·√2), with (−3, 4) = 7/25; times 2.
    assertClose(y.subarray(3, 6), [1.2, 14 / (5 * Math.SQRT2), 0.56], 1e-6, 'row (3, 4)');
    assertClose(y, handCosine(X, W, 2), 1e-6, 'all rows (bounded by 2: 1e-6 is ~10 ulps)');
    assert.deepEqual(Array.from(y.subarray(6, 9)), [0, 0, 0]);
    assertClose(run(layer, X, false), y, 0, 'inference equals training');
  });

  test('bounded by the scale and invariant to the length of x and of w', () => {
    const layer = new CosineDense({
      name: 'cos',
      inputSize: 2,
      units: 3,
      scale: 3,
      learnScale: false,
      rng: new Rng(1),
    });
    setVariable(layer.kernel, W.flat());
    const big = X.map((row) => row.map((v) => v * 1e3));
    const y = run(layer, X);
    assertClose(run(layer, big), y, 1e-5, 'x scaled by 1000');
    // Down to the norm floor, a tenth of a column's initial length (≤ 0.19 here; see the test below).
    setVariable(
      layer.kernel,
      W.flat().map((v) => v * 0.3),
    );
    assertClose(run(layer, X), y, 1e-5, 'w scaled by 0.3');
    setVariable(
      layer.kernel,
      W.flat().map((v) => v * 1e3),
    );
    assertClose(run(layer, X), y, 1e-5, 'w scaled by 1000');
    assert.ok(
      y.every((v) => Math.abs(v) <= 3 + 1e-6),
      `|y| > scale: ${y}`,
    );
  });

  test('defaults: scale 1, learned (a "scale" parameter, never regularized); fixed scale has none', () => {
    const learned = new CosineDense({ name: 'cos', inputSize: 2, units: 3, rng: new Rng(1) });
    assert.deepEqual(
      learned.params.map((p) => [p.name, p.role]),
      [
        ['cos/kernel', 'kernel'],
        ['cos/scale', 'scale'],
      ],
    );
    assert.ok(typeof learned.scale !== 'number');
    assert.deepEqual(Array.from(learned.scale.dataSync()), [1]);
    const fixed = new CosineDense({
      name: 'cos',
      inputSize: 2,
      units: 3,
      scale: 5,
      learnScale: false,
      rng: new Rng(1),
    });
    assert.deepEqual(
      fixed.params.map((p) => p.role),
      ['kernel'],
    );
    assert.equal(fixed.scale, 5);
  });

  test('a learned scale receives the gradient Σ_rows Σ_j cos_j (for L = Σ y)', () => {
    const layer = new CosineDense({ name: 'cos', inputSize: 2, units: 3, scale: 2, rng: new Rng(1) });
    setVariable(layer.kernel, W.flat());
    assert.ok(typeof layer.scale !== 'number');
    const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(tf.tensor2d(X))), [layer.scale]);
    value.dispose();
    const expected = handCosine(X, W, 1).reduce((s, v) => s + v, 0);
    assertClose(take(grads[layer.scale.name]), [expected], 1e-5, 'dL/ds');
  });

  test('freezes to a cosine op whose run equals the layer; the frozen kernel holds s·w/‖w‖', () => {
    const layer = new CosineDense({ name: 'cos', inputSize: 2, units: 3, scale: 1.5, rng: new Rng(1) });
    setVariable(layer.kernel, W.flat());
    const [op] = layer.freeze();
    assert.equal(op.op, 'cosine');
    assert.ok(op.op === 'cosine');
    // Column 2: 1.5·(−3, 4)/5 = (−0.9, 1.2).
    assertClose([op.kernel[2], op.kernel[5]], [-0.9, 1.2], 1e-6, 'normalized column');
    const model = { inputSize: 2, outputSize: 3, output: 'identity' as const, ops: [op] };
    assertClose(runFrozen(model, Float32Array.from(X.flat()), X.length), handCosine(X, W, 1.5), 1e-6, 'frozen run');
  });

  test('a kernel column shrunk to zero fades its unit out with a bounded gradient (≤ 10·s/‖w₀‖ × x̂ᵀ·dy)', () => {
    // As proximal L1 does: scale one column down to (exactly) zero. The gradient of s·ŵ·x̂ with
    // respect to w is (s/‖w‖)(I − ŵŵᵀ)·x̂ᵀ·dy, unbounded as ‖w‖ → 0; below a tenth of the
    // column's initial length the norm is floored, so the unit fades to 0 with w and
    // ‖dw‖ ≤ s/(0.1·‖w₀‖)·‖x̂ᵀ·dy‖.
    const layer = new CosineDense({
      name: 'cos',
      inputSize: 2,
      units: 3,
      scale: 2,
      learnScale: false,
      rng: new Rng(1),
    });
    const w0 = Float32Array.from(layer.kernel.dataSync());
    const initialNorm = Math.hypot(w0[1], w0[4]);
    const rows = [X[0], X[1], X[3]];
    const x = tf.tensor2d(rows);
    const r = tf.tensor2d([
      [1, -2, 0.5],
      [0.5, 3, -1],
      [2, 1, 1],
    ]);
    const column = (values: ArrayLike<number>) => [values[1], values[4]];
    const xHat = rows.map((row) => row.map((v) => v / Math.hypot(...row)));
    const plainGradient = column(take(tf.tidy(() => tf.matMul(tf.tensor2d(xHat), r, true, false))));
    const bound = (2 / (0.1 * initialNorm)) * Math.hypot(...plainGradient);
    for (const factor of [0.05, 1e-4, 1e-8, 0]) {
      setVariable(
        layer.kernel,
        w0.map((value, k) => (k % 3 === 1 ? value * factor : value)),
      );
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x), r)), [layer.kernel]);
      value.dispose();
      const dw = take(grads[layer.kernel.name]);
      assert.ok(dw.every(Number.isFinite), `factor ${factor}: non-finite gradient ${dw}`);
      const size = Math.hypot(...column(dw));
      assert.ok(
        size <= bound * (1 + 1e-5),
        `factor ${factor}: ‖dw‖ = ${size.toPrecision(3)} > ${bound.toPrecision(3)}`,
      );
      // Unit 1 is s·(w₁·x̂)/(0.1·‖w₀‖) below the floor: it fades with factor.
      const y = run(layer, rows);
      const expected = xHat.map((row) => (2 * factor * (row[0] * w0[1] + row[1] * w0[4])) / (0.1 * initialNorm));
      assertClose([y[1], y[4], y[7]], expected, 1e-5, `factor ${factor}: the fading unit`);
      const [op] = layer.freeze();
      const model = { inputSize: 2, outputSize: 3, output: 'identity' as const, ops: [op] };
      assertClose(
        runFrozen(model, Float32Array.from(rows.flat()), rows.length),
        y,
        1e-6,
        `factor ${factor}: frozen run`,
      );
    }
    tf.dispose([x, r]);
  });

  test('rejects a non-positive scale, naming it', () => {
    assert.throws(
      () => new CosineDense({ name: 'c', inputSize: 2, units: 1, scale: 0, rng: new Rng(1) }),
      /received 0/,
    );
  });
});
