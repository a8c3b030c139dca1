import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { type FrozenModel, runFrozen } from '../../src/ml/frozen-model';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { FrozenExecutor } from '../../src/serving/frozen-executor';
import { assertClose, useWasmBackend } from '../helpers/tf';

const INPUTS = 5;
const CLASSES = 3;

/** 3 classes by which of x0, x1, x2 is largest; x3, x4 are noise. Offset inputs give BN work to do. */
function data(rows: number, task: 'classification' | 'regression' = 'classification'): TrainingData {
  const rng = new Rng(17);
  const x = new Float32Array(rows * INPUTS);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < INPUTS; j++) x[i * INPUTS + j] = 2 + 3 * rng.next() + j;
    const scores = [0, 1, 2].map((j) => x[i * INPUTS + j] - j);
    y[i] = task === 'classification' ? scores.indexOf(Math.max(...scores)) : scores[0] - scores[1];
  }
  return {
    task,
    x,
    y,
    inputSize: INPUTS,
    outputSize: task === 'classification' ? CLASSES : 1,
    trainRows: Int32Array.from({ length: rows - 16 }, (_, i) => i),
    validationRows: Int32Array.from({ length: 16 }, (_, i) => rows - 16 + i),
  };
}

/**
 * Networks whose frozen forms hold every op kind and every activation: batch norm folded
 * before and after (after-activation BN feeding a cosine layer stays an `affine` op), layer norm,
 * cosine, weight norm, inverted and Gaussian dropout (both removed), softmax and identity outputs.
 */
const CASES: { name: string; task: 'classification' | 'regression'; hidden: unknown[] }[] = [
  {
    name: 'batch norm, layer norm, dropout (the reference network, small)',
    task: 'classification',
    hidden: [
      { units: 12, normalization: 'batch', dropout: 0.3 },
      { units: 10, normalization: 'layer', dropout: 0.3 },
    ],
  },
  {
    name: 'after-activation batch norm feeding cosine; tanh, elu',
    task: 'classification',
    hidden: [
      { units: 8, normalization: { type: 'batch', placement: 'after-activation', momentum: 0.5 }, activation: 'elu' },
      {
        units: 6,
        normalization: { type: 'cosine', scale: 3 },
        activation: 'tanh',
        dropout: { rate: 0.2, kind: 'gaussian' },
      },
    ],
  },
  {
    name: 'weight norm, sigmoid, selu, layer norm; regression',
    task: 'regression',
    hidden: [
      { units: 9, normalization: 'weight', activation: 'sigmoid' },
      { units: 7, normalization: 'layer', activation: 'selu', dropout: 0.1 },
      { units: 5, normalization: { type: 'batch', momentum: 0.5 }, activation: 'linear' },
    ],
  },
];

async function trainFrozen(c: (typeof CASES)[number]): Promise<FrozenModel> {
  const trainer = new Trainer(data(96, c.task), {
    hidden: c.hidden.map((h) => hiddenLayerSchema.parse(h)),
    regularization: regularizationSchema.parse({}),
    epochs: 3,
    batchSize: 16,
    optimizer: 'adam',
    learningRate: 0.02,
    seed: 5,
  });
  try {
    for (let epoch = 0; epoch < 3; epoch++) await trainer.runEpoch();
    return trainer.network.freeze();
  } finally {
    trainer.dispose();
  }
}

/** Probe rows: the training distribution, plus rows far outside it (large activations). */
function probe(rows: number): Float32Array {
  const rng = new Rng(99);
  return Float32Array.from({ length: rows * INPUTS }, (_, i) => (i % 7 === 0 ? 40 : 2) + 6 * rng.next() - 3);
}

describe('FrozenExecutor', () => {
  const models: { name: string; frozen: FrozenModel }[] = [];
  const rows = 40;
  const x = probe(rows);

  before(async () => {
    await useWasmBackend();
    for (const c of CASES) models.push({ name: c.name, frozen: await trainFrozen(c) });
  });

  test('the cases cover every op kind and every activation', () => {
    const seen = new Set<string>(
      models.flatMap(({ frozen }) => frozen.ops.map((op) => (op.op === 'activation' ? op.fn : op.op))),
    );
    for (const kind of ['dense', 'affine', 'layerNorm', 'cosine', 'relu', 'tanh', 'sigmoid', 'elu', 'selu']) {
      assert.ok(seen.has(kind), `no case has ${kind} (have ${[...seen].join(', ')})`);
    }
    assert.deepEqual(new Set(models.map(({ frozen }) => frozen.output)), new Set(['softmax', 'identity']));
  });

  test('the JavaScript path equals runFrozen (tf) to 1e-5', () => {
    for (const { name, frozen } of models) {
      const executor = new FrozenExecutor(frozen);
      // Probabilities in [0, 1], regression outputs of order 1: 1e-5 absolute.
      assertClose(executor.runJs(x, rows), runFrozen(frozen, x, rows), 1e-5, name);
    }
  });

  test('the resident-weights tf path equals runFrozen to 1e-5', () => {
    for (const { name, frozen } of models) {
      const executor = new FrozenExecutor(frozen);
      try {
        assertClose(executor.runTf(x, rows), runFrozen(frozen, x, rows), 1e-5, name);
        assertClose(executor.runTf(x, rows), runFrozen(frozen, x, rows), 1e-5, `${name}, second run`);
      } finally {
        executor.dispose();
      }
    }
  });

  test('a row does not depend on the other rows, on either path', () => {
    for (const { name, frozen } of models) {
      const executor = new FrozenExecutor(frozen);
      const width = frozen.outputSize;
      const js = executor.runJs(x, rows);
      const viaTf = executor.runTf(x, rows);
      for (const r of [0, 13, rows - 1]) {
        const row = x.slice(r * INPUTS, (r + 1) * INPUTS);
        // Each row is computed by the same loops whatever its neighbours: exactly equal.
        assert.deepEqual(executor.runJs(row, 1), js.slice(r * width, (r + 1) * width), `${name}: JS row ${r}`);
        assertClose(executor.runTf(row, 1), viaTf.subarray(r * width, (r + 1) * width), 1e-6, `${name}: tf row ${r}`);
      }
      executor.dispose();
    }
  });

  test('run() takes JavaScript below tfMinWork and tf from it; dispose frees the resident weights', () => {
    const { frozen } = models[0];
    const before = tf.memory().numTensors;
    const jsOnly = new FrozenExecutor(frozen, { tfMinWork: Infinity });
    jsOnly.run(x, rows);
    assert.equal(tf.memory().numTensors, before, 'the JavaScript path holds no tensors');
    const tfOnly = new FrozenExecutor(frozen, { tfMinWork: 0 });
    assertClose(tfOnly.run(x, rows), jsOnly.run(x, rows), 1e-5, 'tf vs js');
    assert.ok(tf.memory().numTensors > before, 'the tf path keeps its weights resident');
    tfOnly.dispose();
    assert.equal(tf.memory().numTensors, before, 'dispose frees them');
    // Still usable after dispose (an evicted model finishing an in-flight request).
    assertClose(tfOnly.run(x, rows), jsOnly.run(x, rows), 1e-5, 'after dispose');
    assert.equal(tf.memory().numTensors, before, 'and holds nothing afterwards');
  });

  test('the default threshold sends one row of a small network to JavaScript and many to tf', () => {
    const executor = new FrozenExecutor(models[0].frozen);
    // 5·12 + 12·10 + 10·3 = 210 multiply-adds per row.
    assert.equal(executor.workPerRow, 210);
    assert.equal(executor.maxJsRows, Math.ceil(executor.tfMinWork / 210) - 1);
    assert.ok(executor.maxJsRows >= 1);
  });

  test('inputs of the wrong size are refused', () => {
    const executor = new FrozenExecutor(models[0].frozen);
    assert.throws(() => executor.run(new Float32Array(INPUTS + 1), 1), /expected 1 × 5 inputs, received 6 values/);
  });
});
