import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Network } from '../../src/ml/network';
import { kernelPenalty } from '../../src/ml/regularization';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { assertClose, setVariable, useWasmBackend } from '../helpers/tf';

const HIDDEN = [
  hiddenLayerSchema.parse({ units: 4, normalization: 'batch' }),
  hiddenLayerSchema.parse({ units: 3, normalization: 'layer', dropout: 0.2 }),
  hiddenLayerSchema.parse({ units: 3 }), // plain dense with a bias
];

function makeNetwork(): Network {
  return new Network({ inputSize: 3, hidden: HIDDEN, outputSize: 2, output: 'softmax' }, new Rng(5));
}

/** Σ_k Σ_w |w| and Σ_k Σ_w w² over the kernels only, in double precision. */
function kernelSums(network: Network): { abs: number; sq: number } {
  let abs = 0;
  let sq = 0;
  for (const [name, values] of Object.entries(network.getWeights())) {
    if (!name.endsWith('/kernel')) continue;
    for (const w of values) {
      abs += Math.abs(w);
      sq += w * w;
    }
  }
  return { abs, sq };
}

/** A small two-class problem: label = [x0 + x1 > x2]. */
function data(rows = 64): TrainingData {
  const rng = new Rng(17);
  const x = new Float32Array(rows * 3);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < 3; j++) x[i * 3 + j] = rng.next() * 2 - 1;
    y[i] = x[i * 3] + x[i * 3 + 1] > x[i * 3 + 2] ? 1 : 0;
  }
  return {
    task: 'classification',
    x,
    y,
    inputSize: 3,
    outputSize: 2,
    trainRows: Int32Array.from({ length: rows - 16 }, (_, i) => i),
    validationRows: Int32Array.from({ length: 16 }, (_, i) => rows - 16 + i),
  };
}

describe('kernelPenalty', () => {
  let network: Network;
  before(async () => {
    await useWasmBackend();
    network = makeNetwork();
    // Make every non-kernel parameter large, so that including any of them would show.
    for (const p of network.params) {
      if (p.role !== 'kernel') setVariable(p.variable, new Array(p.variable.size).fill(3));
    }
  });
  after(() => network.dispose());

  test('network.kernels are exactly the dense kernels', () => {
    assert.deepEqual(
      network.kernels.map((p) => p.name),
      ['hidden0/dense/kernel', 'hidden1/dense/kernel', 'hidden2/dense/kernel', 'output/dense/kernel'],
    );
    // And the other parameters exist (so "kernels only" is a real restriction here).
    assert.deepEqual(
      network.params.filter((p) => p.role !== 'kernel').map((p) => `${p.name}:${p.role}`),
      [
        'hidden0/batch_norm/gamma:gamma',
        'hidden0/batch_norm/beta:beta',
        'hidden1/dense/bias:bias',
        'hidden1/layer_norm/gain:gain',
        'hidden1/layer_norm/bias:beta',
        'hidden2/dense/bias:bias',
        'output/dense/bias:bias',
      ],
    );
  });

  for (const reg of [
    { l1: 0.1, l2: 0 },
    { l1: 0, l2: 0.25 },
    { l1: 0.01, l2: 0.3 },
    { l1: 0, l2: 0 },
  ]) {
    test(`equals l1·Σ|w| + l2·Σw² over kernels (l1 ${reg.l1}, l2 ${reg.l2})`, () => {
      const { abs, sq } = kernelSums(network);
      const expected = reg.l1 * abs + reg.l2 * sq;
      const actual = tf.tidy(() => kernelPenalty(network.kernels, reg).dataSync()[0]);
      // Float32 sums of ~50 terms of size ~1: relative 1e-5.
      assert.ok(Math.abs(actual - expected) <= 1e-5 * Math.max(1, expected), `penalty ${actual}, expected ${expected}`);
    });
  }

  test('refuses a bias, a gamma, a beta or a gain', () => {
    for (const role of ['bias', 'gamma', 'beta', 'gain'] as const) {
      const param = network.params.find((p) => p.role === role);
      assert.ok(param, `network has no ${role}`);
      assert.throws(
        () => tf.tidy(() => kernelPenalty([...network.kernels, param], { l1: 0.1, l2: 0.1 })),
        (error: unknown) => error instanceof Error && error.message.includes(param.name),
      );
    }
  });
});

describe('regularization in training', () => {
  before(useWasmBackend);

  test('the penalty has zero gradient for biases and normalization parameters, and the hand gradient for kernels', async () => {
    const trainer = new Trainer(data(), {
      hidden: HIDDEN,
      regularization: regularizationSchema.parse({ l2: 5 }),
      epochs: 2,
      batchSize: 16,
      optimizer: 'adam',
      learningRate: 0.05,
      seed: 3,
    });
    try {
      await trainer.runEpoch();
      await trainer.runEpoch();
      const network = trainer.network;
      // Training moved the non-kernel parameters away from 0 (biases, β) and 1 (γ, gain), so a
      // penalty wrongly applied to them would have a non-zero gradient 2·l2·p or l1·sign(p).
      for (const p of network.params.filter((q) => q.role !== 'kernel')) {
        assert.ok(
          p.variable.dataSync().some((v) => v !== 0),
          `${p.name} is all zeros after training; the check below would prove nothing`,
        );
      }

      const l1 = 0.1;
      const l2 = 0.1;
      const all = network.params.map((p) => p.variable);
      const { grads, value } = tf.variableGrads(() => kernelPenalty(network.kernels, { l1, l2 }), all);
      for (const p of network.params) {
        const grad = grads[p.variable.name];
        if (p.role !== 'kernel') {
          // Not connected (undefined) or all zeros both mean zero.
          if (grad)
            assert.ok(
              grad.dataSync().every((g) => g === 0),
              `${p.name} got a penalty gradient`,
            );
          continue;
        }
        assert.ok(grad, `${p.name} got no gradient`);
        // d/dw (l1·|w| + l2·w²) = l1·sign(w) + 2·l2·w.
        const w = p.variable.dataSync();
        const expected = Array.from(w, (v) => l1 * Math.sign(v) + 2 * l2 * v);
        assertClose(grad.dataSync(), expected, 1e-6, `${p.name} gradient`);
      }
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      trainer.dispose();
    }
  });

  test("the trainer's reported penalty is l1·Σ|w| + l2·Σw² over the kernels at the epoch's end", async () => {
    const l1 = 0.002;
    const l2 = 0.5;
    const trainer = new Trainer(data(), {
      hidden: HIDDEN,
      regularization: regularizationSchema.parse({ l1, l2 }),
      epochs: 1,
      batchSize: 16,
      optimizer: 'sgd',
      learningRate: 0.05,
      seed: 4,
    });
    try {
      const metrics = await trainer.runEpoch();
      assert.ok(metrics);
      const { abs, sq } = kernelSums(trainer.network);
      const expected = l1 * abs + l2 * sq;
      assert.ok(
        Math.abs(metrics.penalty - expected) <= 1e-5 * expected,
        `reported penalty ${metrics.penalty}, hand ${expected}`,
      );
    } finally {
      trainer.dispose();
    }
  });

  test('a large l2 shrinks kernels compared with no penalty, same seed and data', async () => {
    const run = async (l2: number): Promise<number> => {
      const trainer = new Trainer(data(), {
        hidden: HIDDEN,
        regularization: regularizationSchema.parse({ l2 }),
        epochs: 3,
        batchSize: 16,
        optimizer: 'sgd',
        learningRate: 0.05,
        seed: 8,
      });
      try {
        for (let e = 0; e < 3; e++) await trainer.runEpoch();
        return kernelSums(trainer.network).sq;
      } finally {
        trainer.dispose();
      }
    };
    const free = await run(0);
    const shrunk = await run(2);
    // SGD with l2 = 2 multiplies each kernel by (1 − 2·lr·l2) = 0.8 per step (plus the data
    // gradient); after 9 steps that is 0.8⁹ ≈ 0.13 in norm — far below the unpenalized run.
    assert.ok(shrunk < 0.5 * free, `Σw² with l2: ${shrunk}, without: ${free}`);
  });
});
