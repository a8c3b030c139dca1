import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Trainer, type TrainerOptions, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { take, useWasmBackend } from '../helpers/tf';

/**
 * Two classes split by the line x0 + 2·x1 = 0.2 in [−1, 1]², with a margin of 0.1 around it
 * (points inside the margin are resampled), so a small MLP can separate them.
 */
function separable(rows: number, validation: number, seed = 1): TrainingData {
  const rng = new Rng(seed);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let a: number;
    let b: number;
    do {
      a = rng.next() * 2 - 1;
      b = rng.next() * 2 - 1;
    } while (Math.abs(a + 2 * b - 0.2) < 0.1);
    x[i * 2] = a;
    x[i * 2 + 1] = b;
    y[i] = a + 2 * b > 0.2 ? 1 : 0;
  }
  return {
    task: 'classification',
    x,
    y,
    inputSize: 2,
    outputSize: 2,
    trainRows: Int32Array.from({ length: rows - validation }, (_, i) => i),
    validationRows: Int32Array.from({ length: validation }, (_, i) => rows - validation + i),
  };
}

/** Batch norm, layer norm, dropout, elastic net and Adam: every piece of state a run carries. */
function fullOptions(overrides: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    hidden: [
      hiddenLayerSchema.parse({ units: 8, normalization: 'batch', dropout: 0.25 }),
      hiddenLayerSchema.parse({ units: 6, normalization: 'layer', dropout: 0.1 }),
    ],
    regularization: regularizationSchema.parse({ l1: 1e-3, l2: 1e-3 }),
    epochs: 2,
    batchSize: 16,
    optimizer: 'adam',
    learningRate: 0.01,
    seed: 42,
    ...overrides,
  };
}

/** Sample standard deviation (n − 1) / √n, in float64. */
function standardError(values: number[]): number {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return Math.sqrt(variance / n);
}

async function weightsAfter(epochs: number, options: TrainerOptions, data: TrainingData) {
  const trainer = new Trainer(data, options);
  try {
    for (let e = 0; e < epochs; e++) assert.ok(await trainer.runEpoch());
    return trainer.network.getWeights();
  } finally {
    trainer.dispose();
  }
}

describe('Trainer', () => {
  before(useWasmBackend);

  test('learns a separable problem; reported validation metrics match a hand evaluation', async () => {
    const data = separable(400, 80);
    const trainer = new Trainer(data, {
      hidden: [hiddenLayerSchema.parse({ units: 16 })],
      regularization: regularizationSchema.parse({}),
      epochs: 12,
      batchSize: 32,
      optimizer: 'adam',
      learningRate: 0.05,
      seed: 5,
    });
    try {
      while (!trainer.done) await trainer.runEpoch();
      const last = trainer.metrics[trainer.metrics.length - 1];
      assert.equal(trainer.metrics.length, 12);
      assert.deepEqual(
        trainer.metrics.map((m) => m.epoch),
        Array.from({ length: 12 }, (_, i) => i + 1),
      );

      // Hand evaluation of the validation rows from inference-mode logits:
      // accuracy = share of rows whose argmax is the label; loss = mean of −log softmax(z)[y].
      const n = data.validationRows.length;
      const xv = data.x.subarray(data.validationRows[0] * 2);
      const logits = take(tf.tidy(() => trainer.network.forward(tf.tensor2d(xv, [n, 2]), { training: false })));
      let correct = 0;
      let nll = 0;
      const rowNll: number[] = [];
      for (let i = 0; i < n; i++) {
        const [z0, z1] = [logits[i * 2], logits[i * 2 + 1]];
        const label = data.y[data.validationRows[i]];
        if ((z1 > z0 ? 1 : 0) === label) correct++;
        const max = Math.max(z0, z1);
        const logSumExp = max + Math.log(Math.exp(z0 - max) + Math.exp(z1 - max));
        nll += logSumExp - (label === 1 ? z1 : z0);
        rowNll.push(logSumExp - (label === 1 ? z1 : z0));
      }
      assert.ok(
        correct / n >= 0.9,
        `validation accuracy ${correct / n} < 0.9 (curve: ${trainer.metrics.map((m) => m.valAccuracy)})`,
      );
      assert.equal(last.valAccuracy, correct / n);
      assert.ok(
        Math.abs(last.valLoss! - nll / n) <= 1e-5 * Math.max(1, nll / n),
        `valLoss ${last.valLoss} vs ${nll / n}`,
      );
      // Standard error = sample standard deviation of the per-row losses / √n.
      const se = standardError(rowNll);
      assert.ok(se > 0);
      assert.ok(Math.abs(last.valLossStdError! - se) <= 1e-4 * se, `valLossStdError ${last.valLossStdError} vs ${se}`);
      assert.ok(last.trainLoss < trainer.metrics[0].trainLoss, 'training loss did not go down');
    } finally {
      trainer.dispose();
    }
  });

  test('the same seed gives bitwise identical weights after 2 epochs; another seed does not', async () => {
    const data = separable(96, 16);
    const a = await weightsAfter(2, fullOptions({ seed: 42 }), data);
    const b = await weightsAfter(2, fullOptions({ seed: 42 }), data);
    const c = await weightsAfter(2, fullOptions({ seed: 43 }), data);
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    for (const name of Object.keys(a)) assert.deepEqual(b[name], a[name], name);
    assert.notDeepEqual(c['hidden0/dense/kernel'], a['hidden0/dense/kernel']);
  });

  test('checkpoint after epoch 1 + restore into a fresh Trainer + epoch 2 = the uninterrupted run', async () => {
    const data = separable(96, 16);
    const options = fullOptions();

    const uninterrupted = new Trainer(data, options);
    await uninterrupted.runEpoch();
    // As if written to storage and read back after a crash: nothing may alias the live trainer.
    const checkpoint = structuredClone(uninterrupted.checkpoint());
    await uninterrupted.runEpoch();
    const expected = uninterrupted.network.getWeights();
    const expectedMetrics = uninterrupted.metrics[1];
    const expectedCheckpoint = uninterrupted.checkpoint();
    uninterrupted.dispose();

    assert.equal(checkpoint.epoch, 1);
    assert.ok(Object.keys(checkpoint.weights).includes('hidden0/batch_norm/moving_mean'), 'buffers are checkpointed');
    assert.ok(Object.keys(checkpoint.optimizer.slots).length > 0, 'optimizer slots are checkpointed');

    const resumed = new Trainer(data, options);
    try {
      resumed.restore(checkpoint);
      assert.equal(resumed.epoch, 1);
      const metrics = await resumed.runEpoch();
      assert.ok(metrics);
      assert.equal(resumed.epoch, 2);
      assert.ok(resumed.done);
      const actual = resumed.network.getWeights();
      for (const name of Object.keys(expected)) assert.deepEqual(actual[name], expected[name], name);
      assert.equal(metrics.trainingModeLoss, expectedMetrics.trainingModeLoss);
      assert.equal(metrics.valLoss, expectedMetrics.valLoss);
      assert.deepEqual(resumed.checkpoint().rng, expectedCheckpoint.rng);
      assert.deepEqual(resumed.checkpoint().optimizer, expectedCheckpoint.optimizer);
      assert.deepEqual(
        resumed.metrics.map((m) => m.epoch),
        [1, 2],
      );
    } finally {
      resumed.dispose();
    }
  });

  test('the checkpoint holds all the state: restoring into a Trainer built with another seed gives the same run', async () => {
    const data = separable(96, 16);
    const first = new Trainer(data, fullOptions({ seed: 42 }));
    await first.runEpoch();
    const checkpoint = structuredClone(first.checkpoint());
    await first.runEpoch();
    const expected = first.network.getWeights();
    first.dispose();

    const other = new Trainer(data, fullOptions({ seed: 7 }));
    try {
      other.restore(checkpoint);
      await other.runEpoch();
      const actual = other.network.getWeights();
      for (const name of Object.keys(expected)) assert.deepEqual(actual[name], expected[name], name);
    } finally {
      other.dispose();
    }
  });

  test('the resume check can fail: a checkpoint without the optimizer state or rng diverges', async () => {
    const data = separable(96, 16);
    const options = fullOptions();
    const first = new Trainer(data, options);
    await first.runEpoch();
    const checkpoint = structuredClone(first.checkpoint());
    await first.runEpoch();
    const expected = first.network.getWeights()['hidden0/dense/kernel'];
    first.dispose();

    for (const broken of [
      { ...checkpoint, optimizer: { step: 0, slots: {} } },
      { ...checkpoint, rng: new Rng(options.seed).state() },
    ]) {
      const trainer = new Trainer(data, options);
      try {
        trainer.restore(broken);
        await trainer.runEpoch();
        assert.notDeepEqual(trainer.network.getWeights()['hidden0/dense/kernel'], expected);
      } finally {
        trainer.dispose();
      }
    }
  });

  test('shouldStop returning true stops mid-epoch and returns null', async () => {
    const data = separable(64, 16); // 48 training rows, batch 16: 3 batches an epoch
    const trainer = new Trainer(data, fullOptions({ epochs: 3 }));
    try {
      const initial = trainer.network.getWeights();
      let calls = 0;
      const result = await trainer.runEpoch(async () => ++calls >= 2);
      assert.equal(result, null);
      assert.equal(calls, 2, 'consulted once per batch, and not after it said stop');
      assert.equal(trainer.epoch, 0);
      assert.equal(trainer.metrics.length, 0);
      // The batches already applied stay applied.
      assert.notDeepEqual(trainer.network.getWeights()['hidden0/dense/kernel'], initial['hidden0/dense/kernel']);

      // Without a stop request the next epoch runs to its end and is numbered 1.
      let consulted = 0;
      const metrics = await trainer.runEpoch(() => {
        consulted++;
        return false;
      });
      assert.equal(metrics?.epoch, 1);
      assert.equal(consulted, 3);
      assert.equal(trainer.epoch, 1);
    } finally {
      trainer.dispose();
    }
  });

  test('batch statistics refuse batchSize 1 and a training set of one row, saying why', () => {
    // A batch of one row has variance 0: every output would be β and the kernel get no gradient
    // (before this check, batchSize 1 skipped every batch and "trained" to NaN loss).
    const data = separable(40, 8);
    for (const normalization of ['batch', 'sync-batch', 'ghost-batch']) {
      const hidden = [hiddenLayerSchema.parse({ units: 4, normalization })];
      assert.throws(
        () => new Trainer(data, fullOptions({ hidden, batchSize: 1 })),
        /batchSize 1 .*variance of one row is 0/,
      );
      const oneRow = { ...data, trainRows: Int32Array.of(0) };
      assert.throws(() => new Trainer(oneRow, fullOptions({ hidden })), /1 training row .*variance of one row is 0/);
    }
    // Layer norm has no such limit.
    new Trainer(
      data,
      fullOptions({ hidden: [hiddenLayerSchema.parse({ units: 4, normalization: 'layer' })], batchSize: 1 }),
    ).dispose();
  });

  test('evaluate: the standard error of a regression loss over more rows than one chunk (4096)', async () => {
    // y = x0 − x1 + noise on 5000 rows, shifted by 3 after the first chunk so that the two chunks'
    // mean losses differ (the combination of chunks is what this checks); untrained network.
    const rows = 5000;
    const rng = new Rng(3);
    const x = Float32Array.from({ length: rows * 2 }, () => rng.next() * 4 - 2);
    const y = Float32Array.from(
      { length: rows },
      (_, i) => x[2 * i] - x[2 * i + 1] + (rng.next() - 0.5) + (i >= 4096 ? 3 : 0),
    );
    const all = Int32Array.from({ length: rows }, (_, i) => i);
    const data: TrainingData = {
      task: 'regression',
      x,
      y,
      inputSize: 2,
      outputSize: 1,
      trainRows: all,
      validationRows: new Int32Array(0),
    };
    const trainer = new Trainer(data, { ...fullOptions(), hidden: [hiddenLayerSchema.parse({ units: 4 })] });
    try {
      const out = take(tf.tidy(() => trainer.network.forward(tf.tensor2d(x, [rows, 2]), { training: false })));
      const squared = Array.from(out, (o, i) => (o - y[i]) ** 2);
      const evaluated = trainer.evaluate(all);
      const mean = squared.reduce((a, b) => a + b, 0) / rows;
      assert.ok(Math.abs(evaluated.loss - mean) <= 1e-5 * mean, `loss ${evaluated.loss} vs ${mean}`);
      const se = standardError(squared);
      assert.ok(Math.abs(evaluated.lossStdError! - se) <= 1e-4 * se, `lossStdError ${evaluated.lossStdError} vs ${se}`);
      assert.equal(trainer.evaluate(all.subarray(0, 1)).lossStdError, undefined, 'one row has no standard error');
    } finally {
      trainer.dispose();
    }
  });

  test('an epoch does not leak tensors', async () => {
    const data = separable(64, 16);
    const trainer = new Trainer(data, fullOptions({ epochs: 3 }));
    try {
      await trainer.runEpoch(); // creates the optimizer's slot variables
      const before = tf.memory().numTensors;
      await trainer.runEpoch();
      const after = tf.memory().numTensors;
      assert.equal(after, before, `${after - before} tensors leaked over one epoch of 3 batches`);
    } finally {
      trainer.dispose();
    }
  });
});
