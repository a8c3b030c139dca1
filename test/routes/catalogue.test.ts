import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * Every normalization, dropout and regularization option of the catalogue trains through the HTTP
 * API and serves predictions. The numerical checks live in test/ml; this proves the wiring.
 */
const OPTIONS: Record<string, { hidden?: object[]; regularization?: object; optimizer?: string }> = {
  'normalization none': { hidden: [{ units: 16, normalization: 'none' }] },
  'normalization batch': { hidden: [{ units: 16, normalization: 'batch' }] },
  'normalization batch after-activation': {
    hidden: [{ units: 16, normalization: { type: 'batch', placement: 'after-activation' } }],
  },
  'normalization layer': { hidden: [{ units: 16, normalization: 'layer' }] },
  'normalization weight': { hidden: [{ units: 16, normalization: 'weight' }] },
  'normalization cosine': { hidden: [{ units: 16, normalization: { type: 'cosine', scale: 5 } }] },
  'normalization sync-batch, one pass': {
    hidden: [{ units: 16, normalization: { type: 'sync-batch', replicas: 4, passes: 1 } }],
  },
  'normalization sync-batch, two passes': {
    hidden: [{ units: 16, normalization: { type: 'sync-batch', replicas: 4, passes: 2 } }],
  },
  'normalization ghost-batch': { hidden: [{ units: 16, normalization: { type: 'ghost-batch', replicas: 4 } }] },
  'dropout inverted': { hidden: [{ units: 16, dropout: { rate: 0.3, kind: 'inverted' } }] },
  'dropout gaussian': { hidden: [{ units: 16, dropout: { rate: 0.3, kind: 'gaussian' } }] },
  'l1 proximal': { regularization: { l1: 0.01 }, optimizer: 'sgd' },
  'l1 subgradient': { regularization: { l1: 0.01, l1Mode: 'subgradient' } },
  l2: { regularization: { l2: 0.001 } },
  'elastic net': { regularization: { l1: 0.001, l2: 0.001 } },
  'weight decay': { regularization: { weightDecay: 0.01 } },
  'per-layer override': { hidden: [{ units: 16, regularization: { l1: 0.05 } }], regularization: { l2: 0.001 } },
};

describe('the catalogue through the HTTP API', () => {
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

  for (const [name, option] of Object.entries(OPTIONS)) {
    test(name, async () => {
      const queued = await svc.http.post('/v1/training-jobs').send({
        datasetId,
        target: 'label',
        task: 'classification',
        model: { hidden: option.hidden ?? [{ units: 16 }] },
        regularization: option.regularization ?? {},
        training: { epochs: 3, batchSize: 16, seed: 1, optimizer: option.optimizer ?? 'adam', learningRate: 0.05 },
      });
      assert.equal(queued.status, 202, JSON.stringify(queued.body));
      await svc.waitForJob(queued.body.jobId);
      const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
      assert.equal(job.body.state, 'completed');
      assert.equal(job.body.metrics.length, 3);
      assert.ok(job.body.metrics.every((m: { trainingModeLoss: number }) => Number.isFinite(m.trainingModeLoss)));
      const model = await svc.http.get(`/v1/models/${job.body.modelId}`);
      assert.equal(typeof model.body.sparsity.zeroShare, 'number');
      const rows = [
        { a: 0.5, b: 0.5, color: 'red' },
        { a: -0.5, b: 0.5, color: 'blue' },
      ];
      const both = await svc.http.post(`/v1/models/${job.body.modelId}/predict`).send({ rows });
      assert.equal(both.status, 200, JSON.stringify(both.body));
      // Inference mode: deterministic and row-independent for every option.
      const alone = await svc.http.post(`/v1/models/${job.body.modelId}/predict`).send({ rows: [rows[1]] });
      for (let c = 0; c < 2; c++) {
        assert.ok(Math.abs(alone.body.probabilities[0][c] - both.body.probabilities[1][c]) < 1e-6);
      }
    });
  }

  test('proximal L1 reports exact zeros and the eliminated inputs by name', async () => {
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 8 }] },
      regularization: { l1: 0.3 },
      training: { epochs: 20, batchSize: 16, seed: 2, optimizer: 'sgd', learningRate: 0.1 },
    });
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    assert.ok(job.body.sparsity.zeroShare > 0.5, `zero share ${job.body.sparsity.zeroShare}`);
    const labels = ['a', 'b', 'color=blue', 'color=red'];
    assert.ok(job.body.sparsity.eliminatedInputs.length > 0, 'strong L1 eliminates inputs');
    assert.ok(job.body.sparsity.eliminatedInputs.every((name: string) => labels.includes(name)));
  });

  test('dropout feeding batch norm trains, with the variance-shift warning', async () => {
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 16, dropout: 0.3 },
          { units: 16, normalization: 'batch' },
        ],
      },
      training: { epochs: 2, seed: 1 },
    });
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    assert.equal(job.body.state, 'completed');
    assert.equal(job.body.warnings.length, 1);
    assert.match(job.body.warnings[0], /variance shift/);
    const model = await svc.http.get(`/v1/models/${job.body.modelId}`);
    assert.deepEqual(model.body.warnings, job.body.warnings);
  });
});
