import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * The training controls through the HTTP API: 400s at submission (the schema's, and a class
 * label the dataset does not have), and a job trained with all of them whose metrics carry the
 * scheduled learning rate per epoch.
 */
describe('training controls over HTTP', () => {
  let svc: TestService;
  let datasetId: string;

  before(async () => {
    svc = await startService();
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(120));
    datasetId = upload.body.id;
  });
  after(async () => {
    await svc.close();
  });

  const submit = (training: Record<string, unknown>) =>
    svc.http.post('/v1/training-jobs').send({ datasetId, target: 'label', task: 'classification', training });

  test('bad controls are 400s that name the field and the value', async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { learningRateSchedule: { type: 'warm-restarts' } },
        'VALIDATION',
        /training\.learningRateSchedule.*Expected one of step, cosine, one-cycle, reduce-on-plateau, received "warm-restarts"/,
      ],
      [
        { learningRateSchedule: { type: 'one-cycle', pctStart: 1.5 } },
        'VALIDATION',
        /pctStart must be in \(0, 1\), received 1\.5/,
      ],
      [
        { validationSplit: 0, learningRateSchedule: { type: 'reduce-on-plateau' } },
        'VALIDATION',
        /reduce-on-plateau watches a validation metric/,
      ],
      [
        { gradientClipping: { globalNorm: -2 } },
        'VALIDATION',
        /training\.gradientClipping\.globalNorm: gradientClipping\.globalNorm must be a number in \(0, 1000000\], received -2/,
      ],
      [{ labelSmoothing: 1 }, 'VALIDATION', /training\.labelSmoothing: labelSmoothing must be in \[0, 1\), received 1/],
      [
        { classWeights: { yes: 2, maybe: 3 } },
        'INVALID_TRAINING_REQUEST',
        /training\.classWeights: the target has no class "maybe"; its classes are "no", "yes"/,
      ],
    ];
    for (const [training, code, message] of cases) {
      const res = await submit(training);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, code, JSON.stringify(res.body));
      assert.match(res.body.error.message, message);
    }
    const regression = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'a',
      task: 'regression',
      training: { classWeights: 'balanced' },
    });
    assert.equal(regression.status, 400);
    assert.match(regression.body.error.message, /classWeights .* not available for regression/);
  });

  test('a job with every control completes; each epoch reports its learning rate', async () => {
    const queued = await submit({
      epochs: 4,
      learningRate: 0.02,
      seed: 3,
      learningRateSchedule: { type: 'step', stepSize: 1, gamma: 0.5 },
      gradientClipping: { globalNorm: 1, value: 0.5 },
      classWeights: { yes: 2 },
      labelSmoothing: 0.1,
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    assert.equal(job.body.state, 'completed', JSON.stringify(job.body));
    assert.deepEqual(
      job.body.metrics.map((m: { learningRate: number }) => m.learningRate),
      [0.02, 0.01, 0.005, 0.0025],
    );
    const model = await svc.http.get(`/v1/models/${job.body.modelId}`);
    assert.deepEqual(model.body.spec.training.classWeights, { yes: 2 });
    assert.deepEqual(model.body.spec.training.learningRateSchedule, { type: 'step', stepSize: 1, gamma: 0.5 });
  });
});
