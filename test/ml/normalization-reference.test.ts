import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InProcessAllReduce } from '../../src/ml/collective/in-process-all-reduce';
import { replicaMoments } from '../../src/ml/collective/replica-moments';
import { splitIntoShards } from '../../src/ml/collective/shards';
import { runFrozen } from '../../src/ml/frozen-model';
import { BatchNormalization } from '../../src/ml/layers/batch-normalization';
import { CosineDense } from '../../src/ml/layers/cosine-dense';
import { GhostBatchNormalization } from '../../src/ml/layers/ghost-batch-normalization';
import type { BufferUpdate, Layer } from '../../src/ml/layers/layer';
import { LayerNormalization } from '../../src/ml/layers/layer-normalization';
import { SyncBatchNormalization } from '../../src/ml/layers/sync-batch-normalization';
import { WeightNormalizedDense } from '../../src/ml/layers/weight-normalized-dense';
import { Rng } from '../../src/random';
import { assertClose, setVariable, take, useWasmBackend } from '../helpers/tf';

/**
 * fitwell's layers against PyTorch. The numbers come from test/fixtures/normalization-reference.json,
 * written by scripts/reference/make_fixtures.py (PyTorch in float64 on float32-exact inputs; the
 * script documents the momentum and running-variance conversions). Only fitwell's float32
 * arithmetic separates the two sides: outputs and gradients of order 1–10 are compared to 1e-5
 * absolute (≈ 100 float32 ulps), unless stated.
 */
// The fixture's shape is documented by the script that writes it.
// The generator's JSON, read by its field names.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fixture: any = JSON.parse(
  readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'normalization-reference.json'), 'utf8'),
);
const TOL = 1e-5;

/**
 * The running-statistics fixtures are the Keras rule (PyTorch with momentum 1 − m) from given
 * running statistics: fitwell's rule once its start correction has vanished, so each layer they
 * check is made warm (startWeight = 0, a long run behind it). The first steps of a fresh
 * layer are checked in batch-normalization.test.ts.
 */
const warm = <T extends BatchNormalization>(layer: T): T => {
  setVariable(layer.startWeight, [0]);
  return layer;
};

function matrix(values: number[], cols: number): tf.Tensor2D {
  return tf.tensor2d(values, [values.length / cols, cols]);
}

/** One training-mode forward pass; buffer updates applied as the trainer applies them. */
function trainStep(layer: Layer, x: tf.Tensor2D): Float32Array {
  const updates: BufferUpdate[] = [];
  const y = take(tf.tidy(() => layer.apply(x, { training: true, bufferUpdates: updates })));
  for (const update of updates) {
    update.variable.assign(update.value);
    update.value.dispose();
  }
  return y;
}

function infer(layer: Layer, x: tf.Tensor2D): Float32Array {
  return take(tf.tidy(() => layer.apply(x, { training: false })));
}

/** Gradients of L = Σ layer(x) ⊙ upstream with respect to x and the given variables. */
function gradients(
  layer: Layer,
  x: number[],
  cols: number,
  upstream: number[],
  variables: tf.Variable[],
  training = true,
): Float32Array[] {
  const xv = tf.variable(matrix(x, cols));
  const up = matrix(upstream, upstream.length / (x.length / cols));
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(layer.apply(xv as tf.Tensor as tf.Tensor2D, { training }), up)),
    [xv, ...variables],
  );
  const out = [xv, ...variables].map((v) => Float32Array.from(grads[v.name].dataSync()));
  tf.dispose([value, xv, up, ...Object.values(grads)]);
  return out;
}

describe('reference values from PyTorch (float64)', () => {
  before(useWasmBackend);

  test('batch norm: two training steps, running statistics in fitwell convention, gradients, inference', () => {
    const c = fixture.batchNorm;
    const layer = warm(
      new BatchNormalization({ name: 'bn', units: c.units, momentum: c.momentum, epsilon: c.epsilon }),
    );
    setVariable(layer.gamma, c.gamma);
    setVariable(layer.beta, c.beta);
    setVariable(layer.movingMean, c.startMean);
    setVariable(layer.movingVariance, c.startVariance);

    const first = c.steps[0];
    const [gx, gg, gb] = gradients(layer, first.x, c.units, first.upstream, [layer.gamma, layer.beta]);
    assertClose(gx, first.gradX, TOL, 'dL/dx');
    assertClose(gg, first.gradGamma, TOL, 'dL/dγ');
    assertClose(gb, first.gradBeta, TOL, 'dL/dβ');

    for (const [k, step] of c.steps.entries()) {
      const x = matrix(step.x, c.units);
      assertClose(trainStep(layer, x), step.output, TOL, `step ${k} output`);
      x.dispose();
      assertClose(layer.movingMean.dataSync(), step.movingMean, TOL, `step ${k} moving mean`);
      assertClose(layer.movingVariance.dataSync(), step.movingVariance, TOL, `step ${k} moving variance`);
      // Both move towards the batch's unbiased variance: once warm, fitwell's running variance is
      // PyTorch's own buffer.
      assertClose(layer.movingVariance.dataSync(), step.torchRunningVar, TOL, `step ${k}: PyTorch's running_var`);
    }

    const probe = matrix(c.probe, c.units);
    assertClose(infer(layer, probe), c.inference, TOL, 'inference');
    // And the frozen form of the same layer (an affine op).
    const frozen = { inputSize: c.units, outputSize: c.units, output: 'identity' as const, ops: layer.freeze() };
    assertClose(runFrozen(frozen, Float32Array.from(c.probe), c.probe.length / c.units), c.inference, TOL, 'frozen');
    probe.dispose();
  });

  test('layer norm: output and gradients (the same in training and inference)', () => {
    const c = fixture.layerNorm;
    const layer = new LayerNormalization({ name: 'ln', units: c.units, epsilon: c.epsilon });
    setVariable(layer.gain, c.gain);
    setVariable(layer.bias, c.bias);
    const x = matrix(c.x, c.units);
    assertClose(trainStep(layer, x), c.output, TOL, 'training output');
    assertClose(infer(layer, x), c.output, TOL, 'inference output');
    x.dispose();
    const [gx, gg, gb] = gradients(layer, c.x, c.units, c.upstream, [layer.gain, layer.bias]);
    assertClose(gx, c.gradX, TOL, 'dL/dx');
    assertClose(gg, c.gradGain, TOL, 'dL/dgain');
    assertClose(gb, c.gradBias, TOL, 'dL/dbias');
  });

  test('weight norm: torch.nn.utils.weight_norm output, gradients for v, g, bias, and the folded kernel', () => {
    const c = fixture.weightNorm;
    const layer = new WeightNormalizedDense({ name: 'wn', inputSize: c.inputSize, units: c.units, rng: new Rng(1) });
    setVariable(layer.v, c.v);
    setVariable(layer.g, c.g);
    setVariable(layer.bias, c.bias);
    const x = matrix(c.x, c.inputSize);
    assertClose(trainStep(layer, x), c.output, TOL, 'training output');
    assertClose(infer(layer, x), c.output, TOL, 'inference output');
    x.dispose();
    const [gx, gv, gg, gb] = gradients(layer, c.x, c.inputSize, c.upstream, [layer.v, layer.g, layer.bias]);
    assertClose(gx, c.gradX, TOL, 'dL/dx');
    assertClose(gv, c.gradV, TOL, 'dL/dv');
    assertClose(gg, c.gradG, TOL, 'dL/dg');
    assertClose(gb, c.gradBias, TOL, 'dL/dbias');
    const [op] = layer.freeze();
    assert.equal(op.op, 'dense');
    assertClose(op.kernel, c.kernel, 1e-6, 'folded kernel g·v/‖v‖ (values ≤ 2: 1e-6 is ~10 ulps)');
  });

  test('cosine: a torch cosine layer, a zero row, gradients for x, w and the scale, and the frozen op', () => {
    const c = fixture.cosine;
    const layer = new CosineDense({
      name: 'cos',
      inputSize: c.inputSize,
      units: c.units,
      scale: c.scale,
      rng: new Rng(1),
    });
    setVariable(layer.kernel, c.kernel);
    const x = matrix(c.x, c.inputSize);
    const y = trainStep(layer, x);
    x.dispose();
    // Bounded by the scale 2.5: 1e-5 absolute.
    assertClose(y, c.output, TOL, 'output');
    assert.deepEqual(Array.from(y.subarray(2 * c.units, 3 * c.units)), [0, 0, 0, 0], 'zero row gives 0');
    const rows: number[] = c.gradRows;
    const xs = rows.flatMap((r) => c.x.slice(r * c.inputSize, (r + 1) * c.inputSize));
    const up = rows.flatMap((r) => c.upstream.slice(r * c.units, (r + 1) * c.units));
    assert.ok(typeof layer.scale !== 'number');
    const [gx, gw, gs] = gradients(layer, xs, c.inputSize, up, [layer.kernel, layer.scale]);
    assertClose(gx, c.gradX, TOL, 'dL/dx');
    assertClose(gw, c.gradKernel, TOL, 'dL/dw');
    assertClose(gs, [c.gradScale], TOL * 10, 'dL/ds (a sum of 16 terms of order 1: 1e-4)');
    const frozen = { inputSize: c.inputSize, outputSize: c.units, output: 'identity' as const, ops: layer.freeze() };
    assertClose(runFrozen(frozen, Float32Array.from(c.x), c.x.length / c.inputSize), c.output, TOL, 'frozen');
  });

  test('sync-batch (both pass counts) equals PyTorch full-batch BN on 10 rows over 4 replicas', () => {
    const c = fixture.replicas;
    for (const passes of [1, 2] as const) {
      const layer = warm(
        new SyncBatchNormalization({ name: 'sbn', units: c.units, epsilon: c.epsilon, replicas: c.replicas, passes }),
      );
      setVariable(layer.gamma, c.gamma);
      setVariable(layer.beta, c.beta);
      const [gx, gg, gb] = gradients(layer, c.x, c.units, c.upstream, [layer.gamma, layer.beta]);
      assertClose(gx, c.full.gradX, TOL, `passes ${passes} dL/dx`);
      assertClose(gg, c.full.gradGamma, TOL, `passes ${passes} dL/dγ`);
      assertClose(gb, c.full.gradBeta, TOL, `passes ${passes} dL/dβ`);
      const m = layer.momentum;
      const x = matrix(c.x, c.units);
      assertClose(trainStep(layer, x), c.full.output, TOL, `passes ${passes} output`);
      x.dispose();
      assertClose(
        layer.movingMean.dataSync(),
        c.full.mean.map((b: number) => (1 - m) * b),
        TOL,
        'moving mean',
      );
      assertClose(
        layer.movingVariance.dataSync(),
        c.full.unbiasedVariance.map((b: number) => m + (1 - m) * b),
        TOL,
        'moving variance',
      );
    }
  });

  test('ghost-batch equals PyTorch BN applied shard by shard', () => {
    const c = fixture.replicas;
    const layer = warm(
      new GhostBatchNormalization({ name: 'gbn', units: c.units, epsilon: c.epsilon, replicas: c.replicas }),
    );
    setVariable(layer.gamma, c.gamma);
    setVariable(layer.beta, c.beta);
    const m = layer.momentum;
    const x = matrix(c.x, c.units);
    assertClose(trainStep(layer, x), c.ghost.output, TOL, 'output');
    x.dispose();
    assertClose(
      layer.movingMean.dataSync(),
      c.ghost.mean.map((b: number) => (1 - m) * b),
      TOL,
      'moving mean',
    );
    assertClose(
      layer.movingVariance.dataSync(),
      c.ghost.unbiasedVariance.map((b: number) => m + (1 - m) * b),
      TOL,
      'moving var',
    );
    assert.ok(
      c.ghost.output.some((v: number, i: number) => Math.abs(v - c.full.output[i]) > 0.05),
      'the fixture itself must tell ghost from full-batch',
    );
  });

  test('offset data (mean 1e4, std 1): combined statistics match PyTorch float64 to 1e-5 relative', () => {
    const c = fixture.offset;
    for (const passes of [1, 2] as const) {
      const [mean, variance] = tf.tidy(() => {
        const shards = splitIntoShards(matrix(c.x, c.units), 4);
        const moments = replicaMoments(shards, new InProcessAllReduce(4), passes);
        return [moments.mean, moments.variance];
      });
      const mu = take(mean);
      const v = take(variance);
      for (let j = 0; j < c.units; j++) {
        const relMean = Math.abs(mu[j] - c.mean[j]) / Math.abs(c.mean[j]);
        const relVar = Math.abs(v[j] - c.variance[j]) / c.variance[j];
        assert.ok(relMean <= 1e-5, `passes ${passes} mean[${j}]: ${mu[j]} vs ${c.mean[j]}`);
        assert.ok(relVar <= 1e-5, `passes ${passes} variance[${j}]: ${v[j]} vs ${c.variance[j]}`);
      }
    }
  });
});
