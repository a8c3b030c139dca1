import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFeatures, encodeTargets, rowsWithTarget } from '../../src/data/preprocessing';
import { parseCsv } from '../../src/data/parse-dataset';
import { runFrozen } from '../../src/ml/frozen-model';
import { trainingRequestSchema, type TrainingRequestInput } from '../../src/schemas/training-request.schema';
import { trainFromRequest } from '../../src/training/train-from-request';
import { useWasmBackend } from '../helpers/tf';

/**
 * The job path (trainFromRequest, as the worker runs it) with the training controls: class
 * weights resolved by label, reported losses and the baseline weighted alike, the schedule's
 * rate in every epoch's metrics.
 */

/** 60 rows, 45 "no" and 15 "yes": imbalanced on purpose. label = yes when a + b > 0.9, roughly. */
function imbalancedCsv(): string {
  const lines = ['a,b,label'];
  for (let i = 0; i < 60; i++) {
    const a = Math.sin(i * 1.3);
    const b = Math.cos(i * 2.1);
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},${i % 4 === 0 ? 'yes' : 'no'}`);
  }
  return lines.join('\n') + '\n';
}

const table = () => parseCsv(imbalancedCsv(), { maxRows: 1000, maxColumns: 10 });
const request = (training: Record<string, unknown>) =>
  trainingRequestSchema.parse({
    datasetId: 'ds',
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units: 6 }] },
    training: { epochs: 4, batchSize: 16, learningRate: 0.05, seed: 2, ...training },
  } satisfies TrainingRequestInput);

describe('training controls on the job path', () => {
  before(useWasmBackend);

  test('explicit class weights by label: trainLoss is the weighted, unsmoothed loss of the kept model; the baseline is weighted too', async () => {
    // No validation split: every row trains, so the class counts are the file's (45 no, 15 yes).
    const spec = request({ validationSplit: 0, classWeights: { yes: 3 }, labelSmoothing: 0.2 });
    const data = table();
    const outcome = await trainFromRequest(spec, data, 2);
    assert.equal(outcome.rows.train, 60);

    // By hand: the kept model's probabilities on every row; weight 3 for "yes", 1 for "no".
    const rows = rowsWithTarget(data, 'label');
    const probabilities = runFrozen(outcome.frozen, encodeFeatures(outcome.preprocessing, data, rows), rows.length);
    const classes = (outcome.preprocessing.target as { classes: string[] }).classes;
    assert.deepEqual(classes, ['no', 'yes']);
    const labels = encodeTargets(outcome.preprocessing, data, rows);
    let weighted = 0;
    let weights = 0;
    labels.forEach((label, i) => {
      const w = classes[label] === 'yes' ? 3 : 1;
      weighted += -w * Math.log(probabilities[i * 2 + label]);
      weights += w;
    });
    const last = outcome.metrics[outcome.metrics.length - 1];
    assert.ok(
      Math.abs(last.trainLoss - weighted / weights) < 1e-5,
      `trainLoss ${last.trainLoss}, by hand ${weighted / weights}`,
    );

    // The baseline: the entropy of the weighted frequencies, 45 : 3·15.
    const p = 45 / 90;
    assert.ok(
      Math.abs(outcome.baselineLoss - -(p * Math.log(p) + (1 - p) * Math.log(1 - p))) < 1e-12,
      `baseline ${outcome.baselineLoss}`,
    );
    const plain = await trainFromRequest(request({ validationSplit: 0 }), data, 2);
    const q = 45 / 60;
    assert.ok(Math.abs(plain.baselineLoss - -(q * Math.log(q) + (1 - q) * Math.log(1 - q))) < 1e-12);
  });

  test('"balanced" weights make the baseline log K; the step schedule\'s rate is in every epoch\'s metrics', async () => {
    const outcome = await trainFromRequest(
      request({
        classWeights: 'balanced',
        learningRateSchedule: { type: 'step', stepSize: 2, gamma: 0.5 },
        gradientClipping: { globalNorm: 1 },
      }),
      table(),
      2,
    );
    assert.ok(Math.abs(outcome.baselineLoss - Math.log(2)) < 1e-12, `baseline ${outcome.baselineLoss}`);
    assert.deepEqual(
      outcome.metrics.map((m) => m.learningRate),
      [0.05, 0.05, 0.025, 0.025],
    );
  });

  test('a class-weight label the target does not have is an INVALID_TRAINING_REQUEST naming it and the classes', async () => {
    await assert.rejects(
      trainFromRequest(request({ classWeights: { maybe: 2 } }), table(), 2),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'INVALID_TRAINING_REQUEST');
        assert.match(
          error.message,
          /training\.classWeights: the target has no class "maybe"; its classes are "no", "yes"/,
        );
        return true;
      },
    );
  });
});
