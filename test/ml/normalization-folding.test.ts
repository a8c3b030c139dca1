import { before, describe, test } from 'node:test';
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
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import {
  type HiddenLayerSpec,
  hiddenLayerSchema,
  regularizationSchema,
} from '../../src/schemas/training-request.schema';
import { assertClose, take, useWasmBackend } from '../helpers/tf';

const INPUTS = 4;
const CLASSES = 3;

/** 3 classes by which of x0, x1, x2 is largest; x3 is noise. Offset inputs give BN work to do. */
function data(rows: number): TrainingData {
  const rng = new Rng(8);
  const x = new Float32Array(rows * INPUTS);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < INPUTS; j++) x[i * INPUTS + j] = 3 + 2 * rng.next() + j;
    const scores = [0, 1, 2].map((j) => x[i * INPUTS + j] - j);
    y[i] = scores.indexOf(Math.max(...scores));
  }
  return {
    task: 'classification',
    x,
    y,
    inputSize: INPUTS,
    outputSize: CLASSES,
    trainRows: Int32Array.from({ length: rows - 16 }, (_, i) => i),
    validationRows: Int32Array.from({ length: 16 }, (_, i) => rows - 16 + i),
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

const CASES: { name: string; hidden: unknown[]; ops: string[] }[] = [
  {
    name: 'batch norm and weight norm',
    hidden: [
      { units: 8, normalization: 'batch', dropout: 0.2 },
      { units: 6, normalization: 'weight', activation: 'tanh' },
    ],
    // BN folded into the dense before it; w = g·v/‖v‖ a constant kernel.
    ops: ['dense', 'activation:relu', 'dense', 'activation:tanh', 'dense'],
  },
  {
    name: 'cosine, then after-activation batch norm',
    hidden: [
      { units: 8, normalization: { type: 'cosine', scale: 2 } },
      { units: 6, normalization: { type: 'batch', placement: 'after-activation', momentum: 0.5 } },
    ],
    // The after-activation BN's affine folds forward into the output dense.
    ops: ['cosine', 'activation:relu', 'dense', 'activation:relu', 'dense'],
  },
  {
    name: 'after-activation batch norm feeding a cosine layer (cannot fold)',
    hidden: [
      { units: 8, normalization: { type: 'batch', placement: 'after-activation', momentum: 0.5 }, activation: 'elu' },
      {
        units: 6,
        normalization: { type: 'cosine', learnScale: false, scale: 3 },
        dropout: { rate: 0.2, kind: 'gaussian' },
      },
    ],
    ops: ['dense', 'activation:elu', 'affine', 'cosine', 'activation:relu', 'dense'],
  },
  {
    name: 'sync-batch (1 and 2 passes) and ghost-batch',
    hidden: [
      { units: 8, normalization: { type: 'sync-batch', replicas: 3, passes: 1, momentum: 0.5 } },
      { units: 8, normalization: { type: 'sync-batch', replicas: 4, passes: 2, momentum: 0.5 }, activation: 'tanh' },
      { units: 6, normalization: { type: 'ghost-batch', replicas: 4, momentum: 0.5 } },
    ],
    ops: ['dense', 'activation:relu', 'dense', 'activation:tanh', 'dense', 'activation:relu', 'dense'],
  },
];

describe('frozen inference form of the normalization catalogue', () => {
  before(useWasmBackend);
  const train = data(96);
  const rows = train.x.length / INPUTS;

  for (const c of CASES) {
    test(`${c.name}: frozen predictions equal the trained graph in inference mode to 1e-5`, async () => {
      const hidden: HiddenLayerSpec[] = c.hidden.map((h) => hiddenLayerSchema.parse(h));
      const trainer = new Trainer(train, {
        hidden,
        regularization: regularizationSchema.parse({}),
        epochs: 2,
        batchSize: 16,
        optimizer: 'adam',
        learningRate: 0.02,
        seed: 3,
      });
      try {
        await trainer.runEpoch();
        await trainer.runEpoch();
        // Running variances and weight-norm gains moved away from their initial values (1 and
        // ‖v‖), so the folding below is exercised with non-trivial numbers.
        const weights = trainer.network.getWeights();
        for (const [name, values] of Object.entries(weights)) {
          if (name.endsWith('moving_variance')) {
            assert.ok(
              values.some((v) => Math.abs(v - 1) > 1e-2),
              `${name} still ≈ 1`,
            );
          }
          if (name.endsWith('weight_norm_dense/g')) {
            const v = weights[name.replace(/g$/, 'v')];
            const norms = Array.from(values, (_, j) => {
              let sum = 0;
              for (let i = j; i < v.length; i += values.length) sum += v[i] ** 2;
              return Math.sqrt(sum);
            });
            assert.ok(
              values.some((g, j) => Math.abs(g - norms[j]) > 1e-3),
              `${name} still = ‖v‖`,
            );
          }
        }
        const frozen = trainer.network.freeze();
        assert.deepEqual(opNames(frozen), c.ops);
        const logits = take(
          tf.tidy(() => trainer.network.forward(tf.tensor2d(train.x, [rows, INPUTS]), { training: false })),
        );
        // Probabilities in [0, 1]; folding reorders float32 products: 1e-5 absolute.
        assertClose(runFrozen(frozen, train.x, rows), softmaxRows(logits, CLASSES), 1e-5, 'probabilities');
        // The stored form (JSON + float32 blob) carries the new ops unchanged.
        const { json, weights: blob } = encodeFrozen(frozen);
        assert.deepEqual(decodeFrozen(JSON.parse(JSON.stringify(json)), blob), frozen);
        // A frozen row does not depend on the other rows.
        const alone = runFrozen(frozen, train.x.subarray(5 * INPUTS, 6 * INPUTS), 1);
        assertClose(alone, runFrozen(frozen, train.x, rows).subarray(5 * CLASSES, 6 * CLASSES), 1e-6, 'row 5');
      } finally {
        trainer.dispose();
      }
    });
  }
});

describe('foldAffine: an affine op before a dense op', () => {
  // affine s = [2, −1], t = [1, 0.5]; dense W (2 × 3) = [[1, 2, 3], [4, 5, 6]], b = [0.5, −0.5, 1]
  const affine: FrozenOp = { op: 'affine', scale: Float32Array.of(2, -1), shift: Float32Array.of(1, 0.5) };
  const dense: FrozenOp = {
    op: 'dense',
    inputSize: 2,
    units: 3,
    kernel: Float32Array.of(1, 2, 3, 4, 5, 6),
    bias: Float32Array.of(0.5, -0.5, 1),
  };

  test('(x·s + t)·W + b = x·(diag(s)·W) + (t·W + b)', () => {
    const ops = foldAffine([{ op: 'activation', fn: 'relu' }, affine, dense]);
    assert.equal(ops.length, 2);
    const op = ops[1];
    assert.equal(op.op, 'dense');
    // diag(s)·W: row i times s_i → [[2, 4, 6], [−4, −5, −6]];
    // t·W + b = [1·1 + 0.5·4, 1·2 + 0.5·5, 1·3 + 0.5·6] + b = [3, 4.5, 6] + b = [3.5, 4, 7].
    assert.deepEqual(Array.from(op.kernel), [2, 4, 6, -4, -5, -6]);
    assert.deepEqual(Array.from(op.bias), [3.5, 4, 7]);
    assert.deepEqual(Array.from((dense as { kernel: Float32Array }).kernel), [1, 2, 3, 4, 5, 6], 'input untouched');
  });

  test('dense → affine → dense folds both ways, and a run gives the unfolded result', () => {
    const first: FrozenOp = {
      ...dense,
      inputSize: 3,
      units: 2,
      kernel: Float32Array.of(1, 0, 0, 1, 1, 1),
      bias: Float32Array.of(0, 1),
    };
    const ops: FrozenOp[] = [first, affine, dense];
    const folded = foldAffine(ops);
    assert.deepEqual(
      folded.map((op) => op.op),
      ['dense', 'dense'],
    );
    const x = Float32Array.of(1, 2, 3, -1, 0.5, 2);
    const model = (o: FrozenOp[]): FrozenModel => ({ inputSize: 3, outputSize: 3, output: 'identity', ops: o });
    assertClose(runFrozen(model(folded), x, 2), runFrozen(model(ops), x, 2), 1e-5, 'folded vs unfolded');
  });

  test('an affine op before a cosine op or at the end stays', () => {
    const cosine: FrozenOp = { op: 'cosine', inputSize: 2, units: 3, kernel: dense.kernel, epsilon: 1e-12 };
    assert.deepEqual(foldAffine([affine, cosine]), [affine, cosine]);
    assert.deepEqual(
      foldAffine([{ op: 'activation', fn: 'tanh' }, affine]).map((op) => op.op),
      ['activation', 'affine'],
    );
  });
});
