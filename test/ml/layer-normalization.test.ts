import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Layer } from '../../src/ml/layers/layer';
import { LayerNormalization } from '../../src/ml/layers/layer-normalization';
import { Network } from '../../src/ml/network';
import { Rng } from '../../src/random';
import { hiddenLayerSchema } from '../../src/schemas/training-request.schema';
import { assertClose, setVariable, take, useWasmBackend } from '../helpers/tf';

// Normalized values are O(1), times gains up to 2: 1e-5 absolute is ~100 float32 ulps.
const TOL = 1e-5;

const UNITS = 4;
const X = [
  [1.0, 2.0, 3.0, 10.0],
  [-5.0, 0.0, 0.5, 0.25],
  [100.0, 101.0, 99.0, 100.5],
];
const GAIN = [1.0, 2.0, -0.5, 0.25];
const BIAS = [0.0, 1.0, -1.0, 0.5];

/**
 * Per row, across its H units: μ = (1/H) Σ a_i, σ² = (1/H) Σ (a_i − μ)²,
 * h_i = g_i · (a_i − μ) / sqrt(σ² + ε) + b_i.
 */
function layerNormByHand(rows: number[][], gain: number[], bias: number[], epsilon: number): number[] {
  const out: number[] = [];
  for (const row of rows) {
    const h = row.length;
    let sum = 0;
    for (const a of row) sum += a;
    const mu = sum / h;
    let sq = 0;
    for (const a of row) sq += (a - mu) ** 2;
    const sigma2 = sq / h;
    row.forEach((a, i) => out.push((gain[i] * (a - mu)) / Math.sqrt(sigma2 + epsilon) + bias[i]));
  }
  return out;
}

function makeLayer(epsilon?: number): LayerNormalization {
  const layer = new LayerNormalization({ name: 'ln', units: UNITS, epsilon });
  setVariable(layer.gain, GAIN);
  setVariable(layer.bias, BIAS);
  return layer;
}

/** Through the Layer interface, as the network calls it, with a full training context. */
function run(layer: Layer, rows: number[][], training: boolean): Float32Array {
  return take(tf.tidy(() => layer.apply(tf.tensor2d(rows), { training, rng: new Rng(1), bufferUpdates: [] })));
}

describe('LayerNormalization', () => {
  before(useWasmBackend);

  test('normalizes each row with its own mean and biased variance (ε = 0.001 default)', () => {
    const layer = makeLayer();
    assertClose(run(layer, X, false), layerNormByHand(X, GAIN, BIAS, 1e-3), TOL, 'output');
  });

  test('uses the given epsilon', () => {
    // Row with σ² = 0.0125 (units 0, 0.1, 0.2, 0.3 → μ 0.15): ε = 0.5 changes the scale a lot.
    const rows = [[0, 0.1, 0.2, 0.3]];
    const layer = makeLayer(0.5);
    const y = run(layer, rows, false);
    assertClose(y, layerNormByHand(rows, GAIN, BIAS, 0.5), TOL, 'ε = 0.5');
    const withDefault = layerNormByHand(rows, GAIN, BIAS, 1e-3);
    assert.ok(Math.abs(y[1] - withDefault[1]) > 0.1, 'epsilon had no visible effect');
  });

  test('a batch of one works and equals that row within a larger batch', () => {
    const layer = makeLayer();
    const batch = run(layer, X, false);
    X.forEach((row, i) => {
      const alone = run(layer, [row], false);
      assertClose(alone, layerNormByHand([row], GAIN, BIAS, 1e-3), TOL, `row ${i} alone`);
      assert.deepEqual(alone, batch.subarray(i * UNITS, (i + 1) * UNITS), `row ${i} alone vs in batch`);
    });
  });

  test('training and inference give the same output (bitwise)', () => {
    const layer = makeLayer();
    assert.deepEqual(run(layer, X, true), run(layer, X, false));
    assert.equal(layer.buffers.length, 0, 'layer norm keeps no running statistics');
  });

  test('in a network without dropout, forward is the same in training and inference', () => {
    const hidden = [hiddenLayerSchema.parse({ units: 5, normalization: 'layer', activation: 'tanh' })];
    const network = new Network({ inputSize: UNITS, hidden, outputSize: 2, output: 'softmax' }, new Rng(3));
    try {
      const x = tf.tensor2d(X);
      const training = take(network.forward(x, { training: true, rng: new Rng(1), bufferUpdates: [] }));
      const inference = take(network.forward(x, { training: false }));
      x.dispose();
      assert.deepEqual(training, inference);
      assert.deepEqual(
        network.layers.map((l) => l.constructor.name),
        ['Dense', 'LayerNormalization', 'Activation', 'Dense'],
      );
    } finally {
      network.dispose();
    }
  });
});
