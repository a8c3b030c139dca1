import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRedis, waitForRedis } from '../../src/store/redis';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * A dataset of several chunks (DATASET_CHUNK_ROWS 1024, 2,500 rows: 3 chunks) trained by the real
 * worker from its chunks, one resident at a time: the same seed gives the same job and the same
 * predictions, and every row with a target is in the split.
 */
describe('training a dataset of several chunks through the worker', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ env: { DATASET_CHUNK_ROWS: '1024', TRAINING_RESIDENT_CHUNKS: '1' } });
  });
  after(async () => {
    await svc.close();
  });

  test('same seed, same job; predicts', async () => {
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(2500));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    // Stored as 3 chunks, so the worker trains from chunks (one chunk would train in memory).
    const redis = createRedis(svc.config.redisUrl);
    await waitForRedis(redis);
    const chunkKey = (n: number) => `${svc.config.redisPrefix}:dataset:${upload.body.id}:chunk:${n}`;
    assert.deepEqual([await redis.exists(chunkKey(2)), await redis.exists(chunkKey(3))], [1, 0]);
    redis.disconnect();
    const train = async () => {
      const queued = await svc.http.post('/v1/training-jobs').send({
        datasetId: upload.body.id,
        target: 'label',
        task: 'classification',
        model: { hidden: [{ units: 16, normalization: 'batch' }] },
        training: { epochs: 2, batchSize: 64, learningRate: 0.01, validationSplit: 0.2, testSplit: 0.1, seed: 8 },
      });
      assert.equal(queued.status, 202, JSON.stringify(queued.body));
      await svc.waitForJob(queued.body.jobId);
      const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
      assert.equal(job.body.state, 'completed', JSON.stringify(job.body));
      return job.body;
    };
    const first = await train();
    const second = await train();
    const withoutTimes = (metrics: { durationMs: number }[]) => metrics.map((m) => ({ ...m, durationMs: 0 }));
    assert.deepEqual(withoutTimes(second.metrics), withoutTimes(first.metrics));
    assert.deepEqual(second.testMetrics, first.testMetrics);
    const model = await svc.http.get(`/v1/models/${first.modelId}`);
    assert.equal(model.status, 200);
    const { rows } = model.body;
    assert.equal(rows.train + rows.validation + rows.test, 2500);
    const body = {
      rows: [
        { a: 0.2, b: 0.9, color: 'red' },
        { a: 0.8, b: 0.1, color: 'blue' },
      ],
    };
    const one = await svc.http.post(`/v1/models/${first.modelId}/predict`).send(body);
    const two = await svc.http.post(`/v1/models/${second.modelId}/predict`).send(body);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    assert.equal(one.body.predictions.length, 2);
    assert.deepEqual(two.body.predictions, one.body.predictions);
  });
});
