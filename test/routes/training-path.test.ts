import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, linearCsv, type TestService } from '../helpers/app';

/**
 * The whole path a user takes: upload a CSV, queue training with batch norm, layer norm,
 * dropout and L2, wait for the real worker, read the job, predict.
 */
describe('upload → train → poll → predict', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService();
  });
  after(async () => {
    await svc.close();
  });

  test('classification with string classes, the foundation example', async () => {
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(400));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    assert.equal(upload.body.rows, 400);
    assert.deepEqual(upload.body.columns, [
      { name: 'a', type: 'numeric' },
      { name: 'b', type: 'numeric' },
      { name: 'color', type: 'categorical' },
      { name: 'label', type: 'categorical' },
    ]);

    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 32, activation: 'relu', normalization: 'batch', dropout: 0.1 },
          { units: 32, activation: 'relu', normalization: 'layer', dropout: { rate: 0.1 } },
        ],
      },
      regularization: { l1: 0, l2: 0.0001 },
      training: { epochs: 25, batchSize: 32, optimizer: 'adam', learningRate: 0.01, validationSplit: 0.2, seed: 42 },
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    assert.equal(queued.body.state, 'waiting');
    const jobId: string = queued.body.jobId;

    await svc.waitForJob(jobId);
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.status, 200);
    assert.equal(job.body.state, 'completed');
    assert.deepEqual(job.body.progress, { epoch: 25, epochs: 25 });
    assert.equal(job.body.metrics.length, 25);
    assert.deepEqual(
      job.body.metrics.map((m: { epoch: number }) => m.epoch),
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
    const last = job.body.metrics[24];
    for (const key of ['trainingModeLoss', 'trainLoss', 'valLoss', 'accuracy', 'valAccuracy', 'penalty']) {
      assert.equal(typeof last[key], 'number', key);
    }
    assert.ok(last.penalty > 0, 'L2 penalty is reported');
    assert.ok(last.valAccuracy >= 0.85, `validation accuracy ${last.valAccuracy}`);
    assert.ok(job.body.metrics[0].trainLoss > last.trainLoss, 'training loss decreases');
    const modelId: string = job.body.modelId;
    assert.match(modelId, /^mdl_/);

    const model = await svc.http.get(`/v1/models/${modelId}`);
    assert.equal(model.status, 200);
    assert.equal(model.body.jobId, jobId);
    assert.equal(model.body.seed, 42);
    assert.equal(model.body.spec.model.hidden[0].normalization.type, 'batch');
    assert.deepEqual(model.body.preprocessing.target.classes, ['no', 'yes']);
    const listed = await svc.http.get('/v1/models');
    assert.ok(listed.body.models.some((m: { id: string }) => m.id === modelId));

    const rows = [
      { a: 0.6, b: 0.7, color: 'red' },
      { a: -0.6, b: 0.7, color: 'blue' },
      { a: -0.5, b: -0.8, color: 'blue' },
      { a: 0.7, b: -0.6, color: 'red' },
    ];
    const predicted = await svc.http.post(`/v1/models/${modelId}/predict`).send({ rows });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.deepEqual(predicted.body.predictions, ['yes', 'no', 'yes', 'no']);
    assert.deepEqual(predicted.body.classes, ['no', 'yes']);
    for (const p of predicted.body.probabilities) {
      assert.ok(Math.abs(p[0] + p[1] - 1) < 1e-5);
    }

    // Frozen statistics, dropout off: the same request answers the same, and a row's answer
    // does not depend on the other rows of the request.
    const again = await svc.http.post(`/v1/models/${modelId}/predict`).send({ rows });
    assert.deepEqual(again.body, predicted.body);
    const alone = await svc.http.post(`/v1/models/${modelId}/predict`).send({ rows: [rows[2]] });
    assert.deepEqual(alone.body.probabilities[0], predicted.body.probabilities[2]);

    // Raw vectors in the model's feature order give the same answer as named rows.
    const vectors = await svc.http
      .post(`/v1/models/${modelId}/predict`)
      .send({ inputs: rows.map((r) => [r.a, r.b, r.color]) });
    assert.deepEqual(vectors.body, predicted.body);
  });

  test('regression predicts in the target units, numeric classes stay numbers', async () => {
    const upload = await svc.http.post('/v1/datasets').send({
      rows: linearCsv(300)
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => {
          const [a, b, y] = line.split(',').map(Number);
          return { a, b, y };
        }),
    });
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'y',
      task: 'regression',
      model: { hidden: [{ units: 16, activation: 'tanh' }] },
      training: { epochs: 40, learningRate: 0.02, seed: 3 },
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    const last = job.body.metrics.at(-1);
    assert.equal(typeof last.valMae, 'number');
    assert.ok(last.valMae < 0.3, `validation MAE ${last.valMae} (target spans about 10 units)`);
    const predicted = await svc.http.post(`/v1/models/${job.body.modelId}/predict`).send({
      rows: [
        { a: 0.5, b: 0.5 },
        { a: -0.5, b: 0.2 },
      ],
    });
    assert.equal(predicted.status, 200);
    assert.equal(predicted.body.probabilities, undefined);
    // y = 3a − 2b + 5
    assert.ok(Math.abs(predicted.body.predictions[0] - 5.5) < 0.5, String(predicted.body.predictions[0]));
    assert.ok(Math.abs(predicted.body.predictions[1] - 3.1) < 0.5, String(predicted.body.predictions[1]));
  });

  test('numeric class labels come back as numbers', async () => {
    const lines = ['x,cls'];
    for (let i = 0; i < 120; i++) lines.push(`${(i % 3) + Math.sin(i) * 0.1},${(i % 3) * 10}`);
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(lines.join('\n'));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'cls',
      task: 'classification',
      training: { epochs: 30, learningRate: 0.05, seed: 1 },
    });
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    const predicted = await svc.http.post(`/v1/models/${job.body.modelId}/predict`).send({ inputs: [[0], [1], [2]] });
    assert.deepEqual(predicted.body.classes, [0, 10, 20]);
    assert.deepEqual(predicted.body.predictions, [0, 10, 20]);
  });
});
