import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { clipGradients } from '../../src/ml/gradient-clipping';
import { LearningRateSchedule } from '../../src/ml/learning-rate-schedule';
import { balancedClassWeights, softmaxCrossEntropyWithGradient, weightedCrossEntropySums } from '../../src/ml/losses';
import type { Optimizer } from '../../src/ml/optimizers';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import {
  gradientClippingSchema,
  hiddenLayerSchema,
  learningRateScheduleSchema,
  regularizationSchema,
} from '../../src/schemas/training-request.schema';
import { assertClose, take, useWasmBackend } from '../helpers/tf';

/**
 * fitwell's training controls against PyTorch. The numbers come from
 * test/fixtures/training-controls-reference.json, written by
 * scripts/reference/make_control_fixtures.py (torch's schedulers, clip_grad_*_,
 * CrossEntropyLoss and whole short training runs in float64 on float32-exact inputs; the script
 * documents the conventions it reproduces). Learning rates are float64 on both sides and agree
 * to rounding; tensors are fitwell's float32 against float64.
 */
// The fixture's shape is documented by the script that writes it.
// The generator's JSON, read by its field names.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const fixture: any = JSON.parse(
  readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'training-controls-reference.json'), 'utf8'),
);

function assertRates(actual: number[], expected: number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: ${actual.length} rates, expected ${expected.length}`);
  expected.forEach((rate, i) => {
    assert.ok(
      Math.abs(actual[i] - rate) <= 1e-12 * Math.max(1, rate),
      `${label}, step ${i}: ${actual[i]} ≠ torch's ${rate}`,
    );
  });
}

/** Rows on a line with noise: enough for a few mini-batch epochs; the values do not matter here. */
function someData(rows: number): TrainingData {
  const rng = new Rng(3);
  const x = Float32Array.from({ length: rows * 2 }, () => rng.next() * 2 - 1);
  const y = Float32Array.from({ length: rows }, (_, i) => (x[2 * i] + x[2 * i + 1] > 0 ? 1 : 0));
  return {
    task: 'classification',
    x,
    y,
    inputSize: 2,
    outputSize: 2,
    trainRows: Int32Array.from({ length: rows }, (_, i) => i),
    validationRows: new Int32Array(0),
  };
}

describe('training controls against PyTorch', () => {
  before(useWasmBackend);

  test("every schedule gives each optimizer step the rate torch's scheduler gives it", () => {
    const { epochs, stepsPerEpoch, learningRate } = fixture.scheduleRun;
    assert.ok(fixture.schedules.length >= 7);
    for (const c of fixture.schedules) {
      const schedule = new LearningRateSchedule(learningRateScheduleSchema.parse(c.spec), learningRate, {
        epochs,
        stepsPerEpoch,
      });
      const rates: number[] = [];
      for (let e = 0; e < epochs; e++) {
        for (let k = 0; k < stepsPerEpoch; k++) rates.push(schedule.rateAt(e * stepsPerEpoch + k, e));
      }
      assertRates(rates, c.rates, JSON.stringify(c.spec));
    }
  });

  test('the trainer hands the optimizer those rates, step by step, over mini-batches', async () => {
    const { epochs, stepsPerEpoch, learningRate } = fixture.scheduleRun;
    // 23 rows in batches of 5: five steps an epoch, the last one of 3 rows.
    const data = someData(23);
    for (const c of fixture.schedules) {
      const trainer = new Trainer(data, {
        hidden: [hiddenLayerSchema.parse({ units: 4 })],
        regularization: regularizationSchema.parse({ l1: 1e-3 }),
        epochs,
        batchSize: 5,
        optimizer: 'adam',
        learningRate,
        seed: 1,
        learningRateSchedule: learningRateScheduleSchema.parse(c.spec),
      });
      try {
        // The real optimizer, observed: the rate it holds when each update is applied.
        const optimizer = (trainer as unknown as { optimizer: Optimizer }).optimizer;
        const seen: number[] = [];
        const apply = optimizer.apply.bind(optimizer);
        optimizer.apply = (params, grads) => {
          seen.push(optimizer.learningRate);
          apply(params, grads);
        };
        while (!trainer.done) await trainer.runEpoch();
        assert.equal(seen.length, epochs * stepsPerEpoch);
        assertRates(seen, c.rates, JSON.stringify(c.spec));
        // Each epoch reports the rate of its last step.
        assertRates(
          trainer.metrics.map((m) => m.learningRate!),
          c.rates.filter((_: number, i: number) => i % stepsPerEpoch === stepsPerEpoch - 1),
          `${JSON.stringify(c.spec)} per epoch`,
        );
      } finally {
        trainer.dispose();
      }
    }
  });

  test('reduce-on-plateau follows ReduceLROnPlateau: patience, thresholds (rel, abs), cooldown, floor, eps, max mode', () => {
    const { learningRate } = fixture.scheduleRun;
    for (const c of fixture.plateau) {
      const schedule = new LearningRateSchedule(learningRateScheduleSchema.parse(c.spec), learningRate, {
        epochs: c.metrics.length,
        stepsPerEpoch: 1,
      });
      const rates: number[] = [];
      c.metrics.forEach((value: number, e: number) => {
        rates.push(schedule.rateAt(e, e));
        schedule.endEpoch({ [c.spec.monitor]: value });
      });
      assertRates(rates, c.rates, JSON.stringify(c.spec));
      assertRates([schedule.rateAt(c.metrics.length, c.metrics.length)], [c.after], `${JSON.stringify(c.spec)} after`);
    }
    // The cases do reduce the rate, and do so differently.
    const finals = new Set(fixture.plateau.map((c: { after: number }) => c.after));
    assert.ok(finals.size >= 4, `final rates ${[...finals]}`);
  });

  test('gradient clipping equals clip_grad_value_ and clip_grad_norm_ on the same gradients', () => {
    const c = fixture.clipping;
    for (const k of c.cases) {
      const clipped = tf.tidy(() => {
        const grads: Record<string, tf.Tensor> = {};
        c.shapes.forEach((shape: number[], i: number) => (grads[`p${i}`] = tf.tensor(c.grads[i], shape)));
        clipGradients(grads, gradientClippingSchema.parse(k.spec));
        return c.shapes.map((_: unknown, i: number) => Float32Array.from(grads[`p${i}`].dataSync()));
      });
      clipped.forEach((values: Float32Array, i: number) =>
        assertClose(values, k.clipped[i], 1e-6, `${JSON.stringify(k.spec)} p${i}`),
      );
    }
    // The cases are not trivial: norm clipping scales, value clipping cuts, the large norm leaves all.
    assert.ok(c.norm > 1, `gradient norm ${c.norm}`);
    assert.deepEqual(fixture.clipping.cases[1].clipped, c.grads);
  });

  test('cross-entropy with class weights and label smoothing equals CrossEntropyLoss(weight, label_smoothing): loss and gradient', () => {
    const c = fixture.crossEntropy;
    const oneHot = new Float32Array(c.rows * c.classes);
    c.labels.forEach((label: number, i: number) => (oneHot[i * c.classes + label] = 1));
    for (const k of c.cases) {
      const label = `weighted ${k.weighted}, ε ${k.labelSmoothing}, ${k.targets}`;
      const [loss, gradient] = tf.tidy(() => {
        const logits = tf.tensor2d(c.logits, [c.rows, c.classes]);
        const targets = tf.tensor2d(k.targets === 'soft' ? c.soft : oneHot, [c.rows, c.classes]);
        const classWeights = k.weighted ? tf.tensor2d(c.weights, [1, c.classes]) : undefined;
        const out = softmaxCrossEntropyWithGradient(logits, targets, {
          classWeights,
          labelSmoothing: k.labelSmoothing,
        });
        return [out.loss, out.gradient];
      });
      assertClose(take(loss), [k.loss], 1e-5, `${label}: loss`);
      assertClose(take(gradient), k.gradient, 1e-6, `${label}: gradient`);
    }
    // The reported loss: the weighted, unsmoothed mean (torch's weighted loss with ε = 0).
    const weighted = c.cases.find(
      (k: { weighted: boolean; labelSmoothing: number }) => k.weighted && k.labelSmoothing === 0,
    );
    const [sum, weights] = tf
      .tidy(() =>
        weightedCrossEntropySums(
          tf.tensor2d(c.logits, [c.rows, c.classes]),
          tf.tensor2d(oneHot, [c.rows, c.classes]),
          tf.tensor2d(c.weights, [1, c.classes]),
        ),
      )
      .map(take);
    assertClose([sum[0] / weights[0]], [weighted.loss], 1e-5, 'weighted sums');
  });

  test('"balanced" class weights equal scikit-learn\'s compute_class_weight', () => {
    const c = fixture.balanced;
    const rows = Int32Array.from(c.labels, (_: number, i: number) => i);
    assertClose(balancedClassWeights(Float32Array.from(c.labels), rows, c.classes), c.weights, 1e-6, 'balanced');
  });

  test("whole runs with the controls together: rates, reported losses and weights epoch by epoch equal torch's", async () => {
    assert.equal(fixture.runs.length, 4);
    for (const run of fixture.runs) {
      const rows = run.trainRows + run.validationRows;
      const data: TrainingData = {
        task: run.task,
        x: Float32Array.from(run.x),
        y: Float32Array.from(run.y),
        inputSize: run.inputSize,
        outputSize: run.classes,
        trainRows: Int32Array.from({ length: run.trainRows }, (_, i) => i),
        validationRows: Int32Array.from({ length: run.validationRows }, (_, i) => run.trainRows + i),
      };
      assert.equal(data.x.length, rows * run.inputSize);
      const o = run.options;
      if (o.classWeights === 'balanced') {
        assertClose(
          balancedClassWeights(data.y, data.trainRows, run.classes),
          run.resolvedClassWeights,
          1e-6,
          'balanced',
        );
      }
      const trainer = new Trainer(data, {
        hidden: [hiddenLayerSchema.parse({ units: run.units })],
        regularization: regularizationSchema.parse(o.regularization ?? {}),
        epochs: o.epochs,
        // One full batch an epoch, so the row order does not matter.
        batchSize: run.trainRows,
        optimizer: o.optimizer,
        learningRate: o.learningRate,
        seed: 1,
        learningRateSchedule: learningRateScheduleSchema.parse(o.learningRateSchedule),
        gradientClipping: o.gradientClipping ? gradientClippingSchema.parse(o.gradientClipping) : undefined,
        classWeights: run.resolvedClassWeights ?? undefined,
        labelSmoothing: o.labelSmoothing ?? 0,
      });
      try {
        trainer.network.setWeights(
          Object.fromEntries(Object.entries(run.initialWeights).map(([k, v]) => [k, Float32Array.from(v as number[])])),
        );
        for (const [e, expected] of run.epochs.entries()) {
          const metrics = await trainer.runEpoch();
          assert.ok(metrics);
          const label = `${run.name}, epoch ${e + 1}`;
          assertRates([metrics.learningRate!], [expected.learningRate], label);
          assertClose(
            [metrics.trainLoss],
            [expected.trainLoss],
            2e-5 * Math.max(1, expected.trainLoss),
            `${label}: trainLoss`,
          );
          assertClose(
            [metrics.valLoss!],
            [expected.valLoss],
            2e-5 * Math.max(1, expected.valLoss),
            `${label}: valLoss`,
          );
          const weights = trainer.network.getWeights();
          for (const [name, values] of Object.entries(expected.weights)) {
            assertClose(weights[name], values as number[], 2e-5, `${label}: ${name}`);
          }
        }
      } finally {
        trainer.dispose();
      }
    }
  });
});
