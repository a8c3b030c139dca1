import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFeatures, encodeTargets, rowsWithTarget } from '../../src/data/preprocessing';
import { parseCsv } from '../../src/data/parse-dataset';
import { columnValues } from '../../src/data/table';
import { classificationMetrics } from '../../src/evaluation/classification-metrics';
import { runFrozen } from '../../src/ml/frozen-model';
import { trainingRequestSchema, type TrainingRequestInput } from '../../src/schemas/training-request.schema';
import { predict } from '../../src/serving/predict';
import { serveModel } from '../../src/serving/served-model';
import type { ModelMeta } from '../../src/store/model-store';
import { EVALUATION_SLICE_ROWS, evaluateModel } from '../../src/training/evaluate-model';
import { trainFromRequest } from '../../src/training/train-from-request';
import { useWasmBackend } from '../helpers/tf';

/**
 * The evaluation on the job path: the kept model's metrics on the validation and test rows are
 * the metrics module's of the frozen model's probabilities; the temperature and threshold reach
 * predict; importance names every input column.
 */

function csv(): string {
  const lines = ['a,b,noise,colour,label'];
  for (let i = 0; i < 240; i++) {
    const a = Math.sin(i * 1.3);
    const b = Math.cos(i * 2.1);
    const colour = i % 3 === 0 ? 'red' : 'blue';
    lines.push(
      `${a.toFixed(4)},${b.toFixed(4)},${Math.sin(i * 7.7).toFixed(4)},${colour},${a + b + (colour === 'red' ? 0.4 : 0) > 0.3 ? 'yes' : 'no'}`,
    );
  }
  return lines.join('\n') + '\n';
}

const request = (evaluation: Record<string, unknown>) =>
  trainingRequestSchema.parse({
    datasetId: 'ds',
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units: 16 }] },
    training: { epochs: 30, batchSize: 16, learningRate: 0.05, seed: 3, validationSplit: 0.25, testSplit: 0.2 },
    evaluation,
  } satisfies TrainingRequestInput);

describe('evaluation on the job path', () => {
  before(useWasmBackend);

  test('metrics of the frozen model on its rows; temperature and threshold applied by predict', async () => {
    const data = parseCsv(csv(), { maxRows: 1000, maxColumns: 10 });
    const spec = request({ calibration: 'temperature', threshold: 'balancedAccuracy', importance: { repeats: 3 } });
    const outcome = await trainFromRequest(spec, data, 3);
    const evaluation = outcome.evaluation!;
    assert.equal(evaluation.validation!.rows, outcome.rows.validation);
    assert.equal(evaluation.test!.rows, outcome.rows.test);
    const temperature = evaluation.calibration!.temperature;
    const threshold = evaluation.threshold!.value;
    assert.equal(evaluation.threshold!.objective, 'balancedAccuracy');
    assert.ok(temperature > 0 && Number.isFinite(temperature));
    assert.ok(
      evaluation.calibration!.validationLogLoss.after <= evaluation.calibration!.validationLogLoss.before + 1e-12,
    );
    assert.deepEqual(
      evaluation.importance!.columns.map((c) => c.column),
      ['a', 'b', 'noise', 'colour'],
    );
    assert.ok('rocAuc' in evaluation.validation! && evaluation.validation.rocAuc! > 0.8, 'a learnable target');

    // Predict over every row with the served model: the probabilities are softmax(log p / T) of
    // the frozen model's, the classes follow the threshold.
    const meta = { task: 'classification', preprocessing: outcome.preprocessing, evaluation } as ModelMeta;
    const served = serveModel({ meta, frozen: outcome.frozen });
    const rows = rowsWithTarget(data, 'label');
    const x = encodeFeatures(outcome.preprocessing, data, rows);
    const inputs = Array.from(rows, (r) => ['a', 'b', 'noise', 'colour'].map((c) => columnValues(data, c)[r]));
    const answer = await predict(served, { inputs }, 10_000);
    const raw = runFrozen(outcome.frozen, x, rows.length);
    const classes = (outcome.preprocessing.target as { classes: string[] }).classes;
    for (let r = 0; r < rows.length; r++) {
      const z = [0, 1].map((c) => Math.log(raw[r * 2 + c]) / temperature);
      const p1 = 1 / (1 + Math.exp(z[0] - z[1]));
      assert.ok(Math.abs(answer.probabilities![r][1] - p1) < 1e-5, `row ${r}: ${answer.probabilities![r][1]} vs ${p1}`);
      assert.equal(answer.predictions[r], classes[answer.probabilities![r][1] >= threshold ? 1 : 0]);
    }
    served.dispose();

    // The metrics module on predict's answers over all rows agrees with predict's own classes.
    const labels = encodeTargets(outcome.preprocessing, data, rows);
    const all = classificationMetrics(labels, answer.probabilities!.flat(), 2, threshold);
    const predicted = answer.predictions.map((p) => classes.indexOf(p as string));
    assert.equal(all.accuracy, predicted.filter((p, i) => p === labels[i]).length / rows.length);
  });

  test('regression: MSE, RMSE, MAE, R² in target units; threshold and calibration are refused', async () => {
    const lines = ['a,b,y'];
    for (let i = 0; i < 120; i++)
      lines.push(`${Math.sin(i).toFixed(4)},${Math.cos(i * 3).toFixed(4)},${(100 + 20 * Math.sin(i)).toFixed(3)}`);
    const data = parseCsv(lines.join('\n') + '\n', { maxRows: 1000, maxColumns: 10 });
    const spec = trainingRequestSchema.parse({
      datasetId: 'ds',
      target: 'y',
      task: 'regression',
      training: { epochs: 40, learningRate: 0.02, seed: 1, testSplit: 0.2 },
    });
    const outcome = await trainFromRequest(spec, data, 1);
    const v = outcome.evaluation!.validation as { mse: number; rmse: number; mae: number; r2: number };
    assert.ok(Math.abs(v.rmse - Math.sqrt(v.mse)) < 1e-12);
    assert.ok(v.r2 > 0.5 && v.mae < 20, `R² ${v.r2}, MAE ${v.mae} (target units: the target spans 80..120)`);
    for (const evaluation of [{ calibration: 'temperature' }, { threshold: 'f1' }]) {
      const parsed = trainingRequestSchema.safeParse({ datasetId: 'ds', target: 'y', task: 'regression', evaluation });
      assert.equal(parsed.success, false);
    }
  });

  test('more held-out rows than EVALUATION_SLICE_ROWS: the metrics of the frozen model run on all of them at once', async () => {
    const data = parseCsv(csv(), { maxRows: 1000, maxColumns: 10 });
    const spec = request({});
    const outcome = await trainFromRequest(spec, data, 3);
    const { inputSize } = outcome.preprocessing;
    // Rows enough for 4 slices, the last one partial, in a non-consecutive order (the copied path)
    // and in order (the view).
    const n = 3 * EVALUATION_SLICE_ROWS + 5;
    const x = Float32Array.from({ length: n * inputSize }, (_, i) => Math.sin(i * 0.37) * 2);
    const y = Float32Array.from({ length: n }, (_, r) => r % 2);
    for (const validation of [
      Int32Array.from({ length: n }, (_, i) => n - 1 - i),
      Int32Array.from({ length: n }, (_, i) => i),
    ]) {
      const evaluation = evaluateModel({
        frozen: outcome.frozen,
        preprocessing: outcome.preprocessing,
        x,
        y,
        validation,
        test: new Int32Array(0),
        options: spec.evaluation,
        seed: 3,
      });
      const gathered = new Float32Array(n * inputSize);
      validation.forEach((r, i) => gathered.set(x.subarray(r * inputSize, (r + 1) * inputSize), i * inputSize));
      const whole = Float64Array.from(runFrozen(outcome.frozen, gathered, n));
      const labels = Int32Array.from(validation, (r) => y[r]);
      assert.deepEqual(evaluation.validation, classificationMetrics(labels, whole, 2, 0.5));
    }
  });
});
