import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { Network } from '../../src/ml/network';
import { applyPostStep, planRegularization } from '../../src/ml/regularization';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { assertClose, paramByName, setVariable, useWasmBackend } from '../helpers/tf';

/** 2 informative inputs (label = x0 + x1 > 0) and 8 pure-noise ones. */
function noisyData(rows = 400, seed = 1): TrainingData {
  const rng = new Rng(seed);
  const d = 10;
  const x = new Float32Array(rows * d);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < d; c++) x[r * d + c] = rng.next() * 2 - 1;
    y[r] = x[r * d] + x[r * d + 1] > 0 ? 1 : 0;
  }
  const cut = Math.floor(rows * 0.8);
  return {
    task: 'classification',
    x,
    y,
    inputSize: d,
    outputSize: 2,
    trainRows: Int32Array.from({ length: cut }, (_, i) => i),
    validationRows: Int32Array.from({ length: rows - cut }, (_, i) => cut + i),
  };
}

function trainer(
  reg: object,
  hidden = [{ units: 16 }],
  epochs = 25,
  optimizer: 'adam' | 'sgd' = 'adam',
  learningRate = 0.01,
): Trainer {
  return new Trainer(noisyData(), {
    hidden: hidden.map((h) => hiddenLayerSchema.parse(h)),
    // The penalties below were sized for He-uniform's scale: with torch-default's smaller start,
    // L1 0.07 under SGD 0.1 zeroes the informative weights too before they can grow.
    init: 'he-uniform',
    regularization: regularizationSchema.parse(reg),
    epochs,
    batchSize: 32,
    optimizer,
    learningRate,
    seed: 5,
  });
}

async function run(t: Trainer): Promise<void> {
  while (!t.done) await t.runEpoch();
}

describe('regularization modes', () => {
  before(useWasmBackend);

  test('the proximal step is soft-thresholding, then decoupled decay scales kernels only', () => {
    const network = new Network(
      { inputSize: 2, hidden: [hiddenLayerSchema.parse({ units: 2 })], outputSize: 1, output: 'identity' },
      new Rng(1),
    );
    const kernel = paramByName(network.params, 'hidden0/dense/kernel');
    const bias = paramByName(network.params, 'hidden0/dense/bias');
    setVariable(kernel.variable, [0.5, -0.05, 0.02, -0.3]);
    setVariable(bias.variable, [0.01, -0.01]);
    const lr = 0.1;
    // Proximal only, after an SGD step (step size lr): threshold lr·α = 0.1·0.5 = 0.05;
    // w ← sign(w)·max(|w| − 0.05, 0).
    const sgdStep = () => lr;
    const proximal = planRegularization(network.kernels, regularizationSchema.parse({ l1: 0.5 }));
    applyPostStep(proximal, lr, sgdStep);
    assertClose(kernel.variable.dataSync(), [0.45, 0, 0, -0.25], 1e-7, 'kernel');
    assert.deepEqual(Array.from(bias.variable.dataSync()), [Math.fround(0.01), Math.fround(-0.01)], 'bias untouched');
    assert.ok(Object.is(kernel.variable.dataSync()[1], 0) || kernel.variable.dataSync()[1] === 0);
    // Decay only: w ← w·(1 − lr·λ) = w·0.98 with λ = 0.2.
    const decay = planRegularization(network.kernels, regularizationSchema.parse({ weightDecay: 0.2 }));
    applyPostStep(decay, lr, sgdStep);
    assertClose(kernel.variable.dataSync(), [0.45 * 0.98, 0, 0, -0.25 * 0.98], 1e-7, 'decayed kernel');
    assert.deepEqual(Array.from(bias.variable.dataSync()), [Math.fround(0.01), Math.fround(-0.01)], 'bias untouched');
    network.dispose();
  });

  test('proximal L1 yields exact zeros where subgradient L1 does not (same data, same seed)', async () => {
    // SGD: its L1 subgradient step and the proximal threshold are both lr·α per step, so the
    // two modes differ only in how they treat zero (with Adam the threshold is small beside
    // Adam's normalized steps and fewer weights reach zero).
    const proximal = trainer({ l1: 0.03, l1Mode: 'proximal' }, [{ units: 16 }], 30, 'sgd', 0.1);
    const subgradient = trainer({ l1: 0.03, l1Mode: 'subgradient' }, [{ units: 16 }], 30, 'sgd', 0.1);
    await run(proximal);
    await run(subgradient);
    const p = proximal.metrics.at(-1)!;
    const s = subgradient.metrics.at(-1)!;
    assert.ok(p.zeroShare > 0.5, `proximal zero share ${p.zeroShare}`);
    assert.equal(s.zeroShare, 0, `subgradient zero share ${s.zeroShare}: weights only oscillate near zero`);
    // The subgradient run's weights are small, not zero: many sit within 0.01 of it.
    const small = subgradient.network.kernels[0].variable.dataSync().filter((w) => Math.abs(w) < 0.02).length;
    assert.ok(small > 0, 'subgradient L1 leaves near-zero weights');
    assert.ok(p.valAccuracy! > 0.85, `proximal L1 still learns: ${p.valAccuracy}`);
    proximal.dispose();
    subgradient.dispose();
  });

  test('proximal L1 eliminates noise inputs and keeps the informative ones', async () => {
    const t = trainer({ l1: 0.07, l1Mode: 'proximal' }, [{ units: 8 }], 60, 'sgd', 0.1);
    await run(t);
    const kernel = t.network.kernels[0].variable.dataSync();
    const rowZero = (i: number) => kernel.slice(i * 8, i * 8 + 8).every((w) => w === 0);
    assert.ok(!rowZero(0) && !rowZero(1), 'informative inputs keep weights');
    const eliminated = [2, 3, 4, 5, 6, 7, 8, 9].filter(rowZero).length;
    assert.ok(eliminated >= 4, `only ${eliminated} of 8 noise inputs eliminated`);
    t.dispose();
  });

  test('decoupled weight decay is not the L2 penalty under Adam', async () => {
    // Same λ, one as a loss term (coupled), one beside the Adam step (decoupled).
    const coupled = trainer({ l2: 0.01 }, [{ units: 16 }], 3);
    const decoupled = trainer({ weightDecay: 0.01 }, [{ units: 16 }], 3);
    await run(coupled);
    await run(decoupled);
    const a = coupled.network.kernels[0].variable.dataSync();
    const b = decoupled.network.kernels[0].variable.dataSync();
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    assert.ok(diff > 1e-4, `coupled and decoupled updates should differ, max diff ${diff}`);
    // Penalty reported: the loss-term part only (weight decay adds nothing to the loss).
    assert.ok(coupled.metrics.at(-1)!.penalty > 0);
    assert.equal(decoupled.metrics.at(-1)!.penalty, 0);
    coupled.dispose();
    decoupled.dispose();
  });

  test('a hidden layer can override the global penalties for its own kernel', () => {
    const network = new Network(
      {
        inputSize: 3,
        hidden: [
          hiddenLayerSchema.parse({ units: 4, regularization: { l1: 0.5, weightDecay: 0 } }),
          hiddenLayerSchema.parse({ units: 4 }),
        ],
        outputSize: 2,
        output: 'softmax',
      },
      new Rng(2),
    );
    const plan = planRegularization(
      network.kernels,
      regularizationSchema.parse({ l1: 0.1, l2: 0.2, weightDecay: 0.3 }),
      network.spec.hidden.map((h) => h.regularization),
    );
    const byName = Object.fromEntries(plan.kernels.map((k) => [k.param.name, k.penalties]));
    assert.deepEqual(Object.keys(byName), ['hidden0/dense/kernel', 'hidden1/dense/kernel', 'output/dense/kernel']);
    assert.deepEqual(byName['hidden0/dense/kernel'], { l1: 0.5, l2: 0.2, weightDecay: 0 });
    assert.deepEqual(byName['hidden1/dense/kernel'], { l1: 0.1, l2: 0.2, weightDecay: 0.3 });
    assert.deepEqual(byName['output/dense/kernel'], { l1: 0.1, l2: 0.2, weightDecay: 0.3 });
    network.dispose();
    assert.equal(tf.memory().numTensors >= 0, true);
  });
});
