import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Param } from '../../src/ml/layers/layer';
import { createOptimizer } from '../../src/ml/optimizers';
import { Trainer, type TrainerOptions, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import {
  hiddenLayerSchema,
  learningRateScheduleSchema,
  regularizationSchema,
  trainingRequestSchema,
  type TrainingRequestInput,
} from '../../src/schemas/training-request.schema';
import { useWasmBackend } from '../helpers/tf';

/** The messages of a failed parse, including those inside union branches. */
function messages(input: unknown): string {
  const result = trainingRequestSchema.safeParse(input);
  assert.equal(result.success, false, `expected a validation error for ${JSON.stringify(input)}`);
  const collect = (issues: unknown[]): string[] =>
    issues.flatMap((issue) => {
      const i = issue as { message: string; path?: unknown[]; errors?: unknown[][] };
      return [`${(i.path ?? []).join('.')}: ${i.message}`, ...(i.errors ?? []).flatMap((branch) => collect(branch))];
    });
  return collect(result.error.issues).join(' | ');
}

const base = (training: Record<string, unknown>, task: 'classification' | 'regression' = 'classification') =>
  ({ datasetId: 'ds', target: 'y', task, training }) as TrainingRequestInput;

/** Three classes from two inputs, with noise: the classes overlap, so the loss keeps moving. */
function threeClasses(rows: number, validation: number): TrainingData {
  const rng = new Rng(11);
  const x = Float32Array.from({ length: rows * 2 }, () => rng.next() * 2 - 1);
  const y = Float32Array.from({ length: rows }, (_, i) => {
    const s = x[2 * i] + 0.5 * x[2 * i + 1] + 0.6 * (rng.next() - 0.5);
    return s < -0.3 ? 0 : s < 0.4 ? 1 : 2;
  });
  return {
    task: 'classification',
    x,
    y,
    inputSize: 2,
    outputSize: 3,
    trainRows: Int32Array.from({ length: rows - validation }, (_, i) => i),
    validationRows: Int32Array.from({ length: validation }, (_, i) => rows - validation + i),
  };
}

function controlled(schedule: unknown, overrides: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    hidden: [hiddenLayerSchema.parse({ units: 8, normalization: 'batch', dropout: 0.2 })],
    regularization: regularizationSchema.parse({ l1: 1e-3, weightDecay: 1e-2 }),
    epochs: 4,
    batchSize: 16,
    optimizer: 'adam',
    learningRate: 0.02,
    seed: 9,
    learningRateSchedule: learningRateScheduleSchema.parse(schedule),
    gradientClipping: { globalNorm: 0.5, value: 0.2 },
    classWeights: [1, 2, 0.5],
    labelSmoothing: 0.1,
    ...overrides,
  };
}

describe('training controls: the request schema', () => {
  test("defaults: everything off, label smoothing 0; each schedule fills in torch's defaults", () => {
    const parsed = trainingRequestSchema.parse(base({}));
    assert.equal(parsed.training.learningRateSchedule, undefined);
    assert.equal(parsed.training.gradientClipping, undefined);
    assert.equal(parsed.training.classWeights, undefined);
    assert.equal(parsed.training.labelSmoothing, 0);
    assert.deepEqual(learningRateScheduleSchema.parse({ type: 'step', stepSize: 2 }), {
      type: 'step',
      stepSize: 2,
      gamma: 0.1,
    });
    assert.deepEqual(learningRateScheduleSchema.parse({ type: 'cosine' }), { type: 'cosine', minLearningRate: 0 });
    assert.deepEqual(learningRateScheduleSchema.parse({ type: 'one-cycle' }), {
      type: 'one-cycle',
      pctStart: 0.3,
      divFactor: 25,
      finalDivFactor: 1e4,
    });
    assert.deepEqual(learningRateScheduleSchema.parse({ type: 'reduce-on-plateau' }), {
      type: 'reduce-on-plateau',
      monitor: 'valLoss',
      factor: 0.1,
      patience: 10,
      threshold: 1e-4,
      thresholdMode: 'rel',
      cooldown: 0,
      minLearningRate: 0,
    });
    const full = trainingRequestSchema.parse(
      base({ gradientClipping: { globalNorm: 1 }, classWeights: { a: 2 }, labelSmoothing: 0.1 }),
    );
    assert.deepEqual(full.training.gradientClipping, { globalNorm: 1 });
    assert.deepEqual(full.training.classWeights, { a: 2 });
    assert.equal(trainingRequestSchema.parse(base({ classWeights: 'balanced' })).training.classWeights, 'balanced');
  });

  test('bad values are refused with the field and the value in the message', () => {
    const cases: [Record<string, unknown>, RegExp, ('classification' | 'regression')?][] = [
      [
        { learningRateSchedule: { type: 'exponential' } },
        /learningRateSchedule\.type: Expected one of step, cosine, one-cycle, reduce-on-plateau, received "exponential"/,
      ],
      [
        { learningRateSchedule: 'cosine' },
        /learningRateSchedule must be an object \{"type": one of step, cosine, one-cycle, reduce-on-plateau, …options\}, received "cosine"/,
      ],
      [
        { learningRateSchedule: { type: 'step' } },
        /learningRateSchedule\.stepSize must be an integer from 1 to 10000 \(epochs\), received undefined/,
      ],
      [{ learningRateSchedule: { type: 'step', stepSize: 2.5 } }, /stepSize must be an integer .* received 2\.5/],
      [
        { learningRateSchedule: { type: 'step', stepSize: 2, gamma: 0 } },
        /learningRateSchedule\.gamma must be in \(0, 1\], received 0/,
      ],
      [{ learningRateSchedule: { type: 'step', stepSize: 2, gamma: 1.5 } }, /gamma must be in \(0, 1\], received 1\.5/],
      [
        { learningRateSchedule: { type: 'cosine', warmupEpochs: 1, warmupSteps: 10 } },
        /give warmupEpochs or warmupSteps, not both/,
      ],
      [
        { learningRateSchedule: { type: 'cosine', warmupSteps: -1 } },
        /warmupSteps must be an integer from 0 .* received -1/,
      ],
      [
        { epochs: 5, learningRateSchedule: { type: 'cosine', warmupEpochs: 5 } },
        /warmupEpochs must be below training\.epochs \(5\), received 5/,
      ],
      [
        { learningRate: 0.01, learningRateSchedule: { type: 'cosine', minLearningRate: 0.01 } },
        /minLearningRate must be below training\.learningRate/,
      ],
      [
        { learningRateSchedule: { type: 'one-cycle', pctStart: 1 } },
        /learningRateSchedule\.pctStart must be in \(0, 1\), received 1/,
      ],
      [
        { learningRateSchedule: { type: 'one-cycle', divFactor: 0.5 } },
        /divFactor must be a number in \[1, 1000000\], received 0\.5/,
      ],
      [
        { learningRateSchedule: { type: 'one-cycle', maxLearningRate: 0 } },
        /maxLearningRate must be a number in \(0, 10\], received 0/,
      ],
      [
        { learningRateSchedule: { type: 'reduce-on-plateau', factor: 1 } },
        /learningRateSchedule\.factor must be in \(0, 1\), received 1/,
      ],
      [
        { learningRateSchedule: { type: 'reduce-on-plateau', thresholdMode: 'percent' } },
        /thresholdMode: Expected one of rel, abs, received "percent"/,
      ],
      [
        { learningRateSchedule: { type: 'reduce-on-plateau', patience: -1 } },
        /patience must be an integer from 0 to 10000, received -1/,
      ],
      [
        { validationSplit: 0, learningRateSchedule: { type: 'reduce-on-plateau' } },
        /reduce-on-plateau watches a validation metric: set training\.validationSplit above 0/,
      ],
      [
        { learningRateSchedule: { type: 'reduce-on-plateau', monitor: 'valMae' } },
        /monitor valMae is not measured for classification: use valLoss, or valAccuracy/,
      ],
      [
        { learningRateSchedule: { type: 'reduce-on-plateau', monitor: 'valAccuracy' } },
        /monitor valAccuracy is not measured for regression: use valLoss, or valMae/,
        'regression',
      ],
      [{ learningRateSchedule: { type: 'step', stepSize: 1, extra: 1 } }, /extra/],
      [{ gradientClipping: {} }, /gradientClipping: give globalNorm, value or both/],
      [
        { gradientClipping: { globalNorm: 0 } },
        /gradientClipping\.globalNorm must be a number in \(0, 1000000\], received 0/,
      ],
      [{ gradientClipping: { value: -1 } }, /gradientClipping\.value must be a number in \(0, 1000000\], received -1/],
      [{ gradientClipping: { norm: 1 } }, /norm/],
      [
        { classWeights: 'auto' },
        /classWeights must be "balanced" or an object of weights by class label, received "auto"/,
      ],
      [{ classWeights: 5 }, /classWeights must be "balanced" or an object of weights by class label, received 5/],
      [{ classWeights: { yes: 0 } }, /classWeights values must be numbers in \(0, 1000000\], received 0/],
      [{ classWeights: { yes: 'high' } }, /classWeights values must be numbers .* received "high"/],
      [
        { classWeights: 'balanced' },
        /training\.classWeights weigh the classes of a classification target: not available for regression/,
        'regression',
      ],
      [{ labelSmoothing: 1 }, /labelSmoothing must be in \[0, 1\), received 1/],
      [{ labelSmoothing: -0.1 }, /labelSmoothing must be in \[0, 1\), received -0\.1/],
      [
        { labelSmoothing: 0.1 },
        /training\.labelSmoothing smooths class targets: not available for regression/,
        'regression',
      ],
    ];
    for (const [training, pattern, task] of cases)
      assert.match(messages(base(training, task)), pattern, JSON.stringify(training));
    // And the good forms of the refused ones pass.
    for (const training of [
      { learningRateSchedule: { type: 'reduce-on-plateau', monitor: 'valMae' } },
      { learningRateSchedule: { type: 'cosine', warmupEpochs: 19 } },
      { gradientClipping: { value: 1 } },
    ]) {
      assert.ok(trainingRequestSchema.safeParse(base(training, 'regression')).success, JSON.stringify(training));
    }
  });
});

describe('training controls: the trainer', () => {
  before(useWasmBackend);

  test('every optimizer reads its learning rate at each step, so a schedule reaches it', () => {
    for (const kind of ['adam', 'sgd', 'rmsprop'] as const) {
      const run = (initial: number, set?: number) => {
        const variable = tf.variable(tf.tensor1d([1, -2, 0.5]));
        const params: Param[] = [{ name: 'w', role: 'kernel', variable }];
        const optimizer = createOptimizer(kind, initial);
        const values: number[][] = [];
        for (let step = 0; step < 3; step++) {
          if (set !== undefined && step === 1) optimizer.learningRate = set;
          tf.tidy(() => optimizer.apply(params, { w: tf.mul(variable, 0.3) }));
          values.push(Array.from(variable.dataSync()));
        }
        optimizer.dispose();
        variable.dispose();
        return values;
      };
      const changed = run(0.1, 0.01);
      const constant = run(0.1);
      assert.deepEqual(changed[0], constant[0], kind);
      assert.notDeepEqual(changed[1], constant[1], `${kind}: the new rate did not reach the update`);
      // From step 2 on, the changed run moves by about a tenth of the constant one's step.
      const move = (v: number[][], i: number) => Math.abs(v[i][0] - v[i - 1][0]);
      const ratio = move(changed, 2) / move(constant, 2);
      assert.ok(ratio > 0.05 && ratio < 0.2, `${kind}: step ratio ${ratio}`);
    }
  });

  test('checkpoint + restore with every control on gives the uninterrupted run: one-cycle (per step) and reduce-on-plateau (its state)', async () => {
    const data = threeClasses(120, 30);
    const schedules = [
      { type: 'one-cycle', maxLearningRate: 0.05 },
      // Every epoch short of a 50% improvement is bad: the rate falls after each of them.
      { type: 'reduce-on-plateau', patience: 0, threshold: 0.5, factor: 0.5 },
    ];
    for (const schedule of schedules) {
      const options = controlled(schedule);
      const uninterrupted = new Trainer(data, options);
      await uninterrupted.runEpoch();
      await uninterrupted.runEpoch();
      const checkpoint = structuredClone(uninterrupted.checkpoint());
      while (!uninterrupted.done) await uninterrupted.runEpoch();
      const expected = uninterrupted.network.getWeights();
      const expectedRates = uninterrupted.metrics.map((m) => m.learningRate);
      uninterrupted.dispose();
      // One-cycle moves every epoch; the plateau sets its best after epoch 1, then falls after each.
      assert.equal(
        new Set(expectedRates).size,
        schedule.type === 'one-cycle' ? 4 : 3,
        `${schedule.type}: rates ${expectedRates}`,
      );

      const resume = async (from: typeof checkpoint) => {
        const trainer = new Trainer(data, options);
        try {
          trainer.restore(from);
          while (!trainer.done) await trainer.runEpoch();
          return { weights: trainer.network.getWeights(), rates: trainer.metrics.map((m) => m.learningRate) };
        } finally {
          trainer.dispose();
        }
      };
      const resumed = await resume(checkpoint);
      assert.deepEqual(resumed.rates, expectedRates, schedule.type);
      for (const name of Object.keys(expected))
        assert.deepEqual(resumed.weights[name], expected[name], `${schedule.type}: ${name}`);

      // The check can fail: without the plateau's state the rate starts over.
      if (schedule.type === 'reduce-on-plateau') {
        assert.ok(checkpoint.learningRateSchedule?.plateau, 'the plateau state is in the checkpoint');
        const broken = await resume({ ...checkpoint, learningRateSchedule: undefined });
        assert.notDeepEqual(broken.rates, expectedRates);
      }
    }
  });

  test('class weights move the decision towards the up-weighted class; smoothing keeps probabilities off 0 and 1', async () => {
    const data = threeClasses(240, 60);
    const predictedShare = async (options: Partial<TrainerOptions>) => {
      const trainer = new Trainer(data, {
        hidden: [hiddenLayerSchema.parse({ units: 16 })],
        regularization: regularizationSchema.parse({}),
        epochs: 15,
        batchSize: 32,
        optimizer: 'adam',
        learningRate: 0.02,
        seed: 4,
        ...options,
      });
      try {
        while (!trainer.done) await trainer.runEpoch();
        const rows = data.validationRows.length;
        const x = data.x.subarray(data.validationRows[0] * 2, (data.validationRows[0] + rows) * 2);
        const probabilities = tf.tidy(() =>
          tf.softmax(trainer.network.forward(tf.tensor2d(x, [rows, 2]), { training: false })).arraySync(),
        );
        return {
          share0: probabilities.filter((p) => p[0] === Math.max(...p)).length / rows,
          meanTopProbability: probabilities.reduce((sum, p) => sum + Math.max(...p), 0) / rows,
        };
      } finally {
        trainer.dispose();
      }
    };
    const plain = await predictedShare({});
    const weighted = await predictedShare({ classWeights: [6, 1, 1] });
    // Measured: 0.57 of the rows with weight 6, 0.45 without.
    assert.ok(
      weighted.share0 > plain.share0 + 0.05,
      `class 0 predicted for ${weighted.share0} of rows with weight 6, ${plain.share0} without`,
    );
    const smoothed = await predictedShare({ labelSmoothing: 0.3 });
    // With ε = 0.3 and K = 3 the loss is least with 1 − ε + ε/K = 0.8 on the row's class.
    // Measured: 0.86 without smoothing, 0.70 with it.
    assert.ok(smoothed.meanTopProbability < 0.8, `smoothed: mean top probability ${smoothed.meanTopProbability}`);
    assert.ok(
      plain.meanTopProbability - smoothed.meanTopProbability > 0.1,
      `mean top probability ${plain.meanTopProbability} plain, ${smoothed.meanTopProbability} smoothed`,
    );
  });
});
