import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import {
  decodeFrozen,
  encodeFrozen,
  foldAffine,
  type FrozenModel,
  type FrozenOp,
  runFrozen,
} from '../../src/ml/frozen-model';
import { Network } from '../../src/ml/network';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { assertClose, setVariable, take, useWasmBackend } from '../helpers/tf';

const INPUTS = 4;
const CLASSES = 3;

const HIDDEN = [
  hiddenLayerSchema.parse({ units: 8, normalization: 'batch', dropout: 0.3 }),
  hiddenLayerSchema.parse({ units: 6, normalization: 'layer', dropout: 0.2, activation: 'tanh' }),
  hiddenLayerSchema.parse({ units: 5, normalization: { type: 'batch', momentum: 0.5 }, activation: 'elu' }),
];

/** 3 classes by which of x0, x1, x2 is largest; x3 is noise. Inputs are offset (≈ 3–8) so BN has work to do. */
function data(rows: number): TrainingData {
  const rng = new Rng(31);
  const x = new Float32Array(rows * INPUTS);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < INPUTS; j++) x[i * INPUTS + j] = 3 + 2 * rng.next() + j;
    // Feature j was offset by j; compare the un-offset values.
    const scores = [0, 1, 2].map((j) => x[i * INPUTS + j] - j);
    y[i] = scores.indexOf(Math.max(...scores));
  }
  return {
    task: 'classification',
    x,
    y,
    inputSize: INPUTS,
    outputSize: CLASSES,
    trainRows: Int32Array.from({ length: rows - 20 }, (_, i) => i),
    validationRows: Int32Array.from({ length: 20 }, (_, i) => rows - 20 + i),
  };
}

/** p_k = exp(z_k − max z) / Σ_j exp(z_j − max z), per row. */
function softmaxRows(logits: ArrayLike<number>, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r * cols < logits.length; r++) {
    const z = Array.from({ length: cols }, (_, c) => logits[r * cols + c]);
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((s, v) => s + v, 0);
    out.push(...e.map((v) => v / sum));
  }
  return out;
}

function opNames(model: FrozenModel): string[] {
  return model.ops.map((op) => (op.op === 'activation' ? `activation:${op.fn}` : op.op));
}

describe('frozen model from a trained network', () => {
  let trainer: Trainer;
  let frozen: FrozenModel;
  const probe = data(96).x; // all 96 rows, training and validation alike
  const rows = probe.length / INPUTS;

  before(async () => {
    await useWasmBackend();
    trainer = new Trainer(data(96), {
      hidden: HIDDEN,
      regularization: regularizationSchema.parse({ l2: 1e-3 }),
      epochs: 2,
      batchSize: 16,
      optimizer: 'adam',
      learningRate: 0.02,
      seed: 12,
    });
    await trainer.runEpoch();
    await trainer.runEpoch();
    frozen = trainer.network.freeze();
  });
  after(() => trainer.dispose());

  test('the running statistics are non-trivial (so folding them is really tested)', () => {
    const weights = trainer.network.getWeights();
    for (const layer of ['hidden0', 'hidden2']) {
      const mean = weights[`${layer}/batch_norm/moving_mean`];
      const variance = weights[`${layer}/batch_norm/moving_variance`];
      assert.ok(
        mean.some((v) => Math.abs(v) > 1e-2),
        `${layer} moving mean still ≈ 0: ${mean}`,
      );
      assert.ok(
        variance.some((v) => Math.abs(v - 1) > 1e-2),
        `${layer} moving variance still ≈ 1: ${variance}`,
      );
    }
  });

  test('runFrozen equals softmax(network.forward(x, inference)) to 1e-5', () => {
    const logits = take(
      tf.tidy(() => trainer.network.forward(tf.tensor2d(probe, [rows, INPUTS]), { training: false })),
    );
    const expected = softmaxRows(logits, CLASSES);
    const actual = runFrozen(frozen, probe, rows);
    assert.equal(actual.length, rows * CLASSES);
    // Probabilities in [0, 1]; folding reorders float32 products: 1e-5 absolute.
    assertClose(actual, expected, 1e-5, 'probabilities');
  });

  test('batch norm is folded into the dense before it; dropout is gone', () => {
    assert.deepEqual(opNames(frozen), [
      'dense',
      'activation:relu',
      'dense',
      'layerNorm',
      'activation:tanh',
      'dense',
      'activation:elu',
      'dense',
    ]);
    frozen.ops.forEach((op, i) => {
      if (op.op === 'affine') assert.notEqual(frozen.ops[i - 1]?.op, 'dense', `affine after dense at ${i}`);
    });
    assert.equal(frozen.output, 'softmax');
    assert.equal(frozen.inputSize, INPUTS);
    assert.equal(frozen.outputSize, CLASSES);
  });

  test('a frozen row does not depend on the other rows', () => {
    const all = runFrozen(frozen, probe, rows);
    for (const i of [0, 7, rows - 1]) {
      const alone = runFrozen(frozen, probe.subarray(i * INPUTS, (i + 1) * INPUTS), 1);
      assertClose(alone, all.subarray(i * CLASSES, (i + 1) * CLASSES), 1e-6, `row ${i}`);
    }
  });

  test('encodeFrozen/decodeFrozen round-trip exactly, through JSON', () => {
    const { json, weights } = encodeFrozen(frozen);
    const decoded = decodeFrozen(JSON.parse(JSON.stringify(json)), weights);
    assert.deepEqual(decoded, frozen);
    assert.deepEqual(runFrozen(decoded, probe, rows), runFrozen(frozen, probe, rows));
  });

  test('decodeFrozen reads a Buffer that sits at an odd byteOffset', () => {
    const { json, weights } = encodeFrozen(frozen);
    // A Buffer from a network read or a Redis reply can be a slice of a larger pool.
    for (const shift of [1, 2, 3]) {
      const pool = new ArrayBuffer(weights.byteLength + 8);
      const shifted = Buffer.from(pool, shift, weights.byteLength);
      weights.copy(shifted);
      assert.equal(shifted.byteOffset % 4, shift);
      const decoded = decodeFrozen(json, shifted);
      assert.deepEqual(decoded, frozen, `byteOffset ${shift}`);
    }
  });

  test('the encoded weights are little-endian float32, in op order', () => {
    const { json, weights } = encodeFrozen(frozen);
    const first = frozen.ops[0];
    assert.equal(first.op, 'dense');
    const ref = json.ops[0].kernel as { offset: number; length: number };
    assert.equal(ref.length, first.kernel.length);
    for (let i = 0; i < ref.length; i++) {
      assert.equal(weights.readFloatLE((ref.offset + i) * 4), first.kernel[i]);
    }
  });
});

describe('freezing a regression network', () => {
  before(useWasmBackend);

  test('identity output, folded batch norm, equals forward in inference mode', () => {
    const hidden = [hiddenLayerSchema.parse({ units: 3, normalization: 'batch', activation: 'sigmoid', dropout: 0.5 })];
    const network = new Network({ inputSize: 2, hidden, outputSize: 1, output: 'identity' }, new Rng(9));
    try {
      // Hand-set BN statistics and affine parameters far from their initial values.
      setVariable(network.buffers[0].variable, [0.5, -1.0, 2.0]); // moving mean
      setVariable(network.buffers[1].variable, [0.25, 4.0, 9.0]); // moving variance
      setVariable(network.params.find((p) => p.role === 'gamma')!.variable, [2.0, -1.0, 0.5]);
      setVariable(network.params.find((p) => p.role === 'beta')!.variable, [0.1, 0.2, -0.3]);
      const x = Float32Array.of(1, 2, -3, 0.5, 0, 0, 10, -10);
      const model = network.freeze();
      assert.deepEqual(opNames(model), ['dense', 'activation:sigmoid', 'dense']);
      const expected = take(tf.tidy(() => network.forward(tf.tensor2d(x, [4, 2]), { training: false })));
      assertClose(runFrozen(model, x, 4), expected, 1e-5, 'regression output');
    } finally {
      network.dispose();
    }
  });
});

describe('foldAffine', () => {
  // dense: inputSize 2, units 3, W row-major [[1, 2, 3], [4, 5, 6]], b = [0.5, -0.5, 1]
  const dense: FrozenOp = {
    op: 'dense',
    inputSize: 2,
    units: 3,
    kernel: Float32Array.of(1, 2, 3, 4, 5, 6),
    bias: Float32Array.of(0.5, -0.5, 1),
  };
  const affine: FrozenOp = { op: 'affine', scale: Float32Array.of(2, -1, 0.5), shift: Float32Array.of(1, 0, -1) };

  test('(x·W + b)·s + t = x·(W·diag(s)) + (b·s + t)', () => {
    const folded = foldAffine([dense, affine]);
    assert.equal(folded.length, 1);
    const op = folded[0];
    assert.equal(op.op, 'dense');
    // W·diag(s): column j times s_j → [[2, −2, 1.5], [8, −5, 3]]; b·s + t = [2, 0.5, −0.5].
    assert.deepEqual(Array.from(op.kernel), [2, -2, 1.5, 8, -5, 3]);
    assert.deepEqual(Array.from(op.bias), [2, 0.5, -0.5]);
    // The inputs were not modified in place.
    assert.deepEqual(Array.from((dense as { kernel: Float32Array }).kernel), [1, 2, 3, 4, 5, 6]);
  });

  test('an affine op after an activation stays', () => {
    const ops: FrozenOp[] = [dense, { op: 'activation', fn: 'relu' }, affine];
    assert.deepEqual(foldAffine(ops), ops);
  });
});
