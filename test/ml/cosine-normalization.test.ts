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
    const layer = new CosineDense({ name: 'cos', inputSize: 2, units: 3, scale: 2, learnScale: false, rng: new Rng(1) });
    setVariable(layer.kernel, W.flat());
    const y = run(layer, X);
    // Row 1 = (3, 4): cos with e0 = 3/5, with (1, 1) = 7/(5·√2), with (−3, 4) = 7/25; times 2.
    assertClose(y.subarray(3, 6), [1.2, 14 / (5 * Math.SQRT2), 0.56], 1e-6, 'row (3, 4)');
    assertClose(y, handCosine(X, W, 2), 1e-6, 'all rows (bounded by 2: 1e-6 is ~10 ulps)');
    assert.deepEqual(Array.from(y.subarray(6, 9)), [0, 0, 0]);
    assertClose(run(layer, X, false), y, 0, 'inference equals training');
  });

  test('bounded by the scale and invariant to the length of x and of w', () => {
    const layer = new CosineDense({ name: 'cos', inputSize: 2, units: 3, scale: 3, learnScale: false, rng: new Rng(1) });
    setVariable(layer.kernel, W.flat());
    const big = X.map((row) => row.map((v) => v * 1e3));
    const y = run(layer, X);
    assertClose(run(layer, big), y, 1e-5, 'x scaled by 1000');
    setVariable(layer.kernel, W.flat().map((v) => v * 0.01));
    assertClose(run(layer, X), y, 1e-5, 'w scaled by 0.01');
    assert.ok(y.every((v) => Math.abs(v) <= 3 + 1e-6), `|y| > scale: ${y}`);
  });

  test('defaults: scale 1, learned (a "scale" parameter, never regularized); fixed scale has none', () => {
    const learned = new CosineDense({ name: 'cos', inputSize: 2, units: 3, rng: new Rng(1) });
    assert.deepEqual(learned.params.map((p) => [p.name, p.role]), [
      ['cos/kernel', 'kernel'],
      ['cos/scale', 'scale'],
    ]);
    assert.ok(typeof learned.scale !== 'number');
    assert.deepEqual(Array.from(learned.scale.dataSync()), [1]);
    const fixed = new CosineDense({ name: 'cos', inputSize: 2, units: 3, scale: 5, learnScale: false, rng: new Rng(1) });
    assert.deepEqual(fixed.params.map((p) => p.role), ['kernel']);
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

  test('rejects a non-positive scale, naming it', () => {
    assert.throws(() => new CosineDense({ name: 'c', inputSize: 2, units: 1, scale: 0, rng: new Rng(1) }), /received 0/);
  });
});
