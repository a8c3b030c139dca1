import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { metricsKey } from '../../src/training-jobs/keys';
import { ContractValidator, type HttpResponse } from '../helpers/openapi-contract';
import { linearCsv, startService, xorCsv, type TestService } from '../helpers/app';

/**
 * Values no float32 network can use, and training that diverges: answered with 400s that name
 * the value, or a job that fails saying why; never a 500, and every response still matches the
 * document, whatever is stored.
 */
describe('non-finite and out-of-range values', () => {
  let svc: TestService;
  let contract: ContractValidator;
  let datasetId: string;
  let modelId: string;

  const valid = async (request: PromiseLike<unknown>, status: number) => {
    const res = (await request) as HttpResponse & { body: { error?: { message: string } } };
    contract.check(res);
    assert.equal(res.status, status, res.text?.slice(0, 300));
    return res;
  };

  before(async () => {
    svc = await startService();
    contract = await ContractValidator.fromDocument((await svc.http.get('/openapi.json')).body);
    datasetId = (await svc.http.post('/v1/datasets').type('text/csv').send(xorCsv(60))).body.id;
    const queued = await svc.http
      .post('/v1/training-jobs')
      .send({ datasetId, target: 'label', task: 'classification', training: { epochs: 2, seed: 1 } });
    await svc.waitForJob(queued.body.jobId);
    modelId = (await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body.modelId;
  });
  after(async () => {
    await svc.close();
  });

  test('an upload with a cell beyond float32 (1e308) is a 400 naming the line and column', async () => {
    const lines = xorCsv(20).split('\n');
    lines[3] = lines[3].replace(/^[^,]+/, '1e308');
    const res = await valid(svc.http.post('/v1/datasets').type('text/csv').send(lines.join('\n')), 400);
    assert.match(res.body.error!.message, /^column "a" line 4: 1e308 is outside the range training computes in/);
    const json = await valid(svc.http.post('/v1/datasets').send({ rows: [{ a: 1 }, { a: -1e39 }] }), 400);
    assert.match(json.body.error!.message, /^row 1 column "a": -1e\+39 is outside the range/);
  });

  test('training that diverges fails, saying at which epoch and what; the job stays readable', async () => {
    const upload = await svc.http.post('/v1/datasets').type('text/csv').send(linearCsv(80));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'y',
      task: 'regression',
      training: { epochs: 30, seed: 1, learningRate: 10, optimizer: 'sgd' },
    });
    await assert.rejects(
      svc.waitForJob(queued.body.jobId),
      /training diverged at epoch \d+: \w+ is (NaN|Infinity|-Infinity)/,
    );
    const job = await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}`), 200);
    const view = job.body as unknown as { state: string; error: string; metrics: Record<string, unknown>[] };
    assert.equal(view.state, 'failed');
    assert.match(view.error, /lower training\.learningRate/);
    for (const epoch of view.metrics)
      for (const value of Object.values(epoch)) assert.ok(Number.isFinite(value), JSON.stringify(epoch));
    await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}/report`), 200);
    await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}/curves.svg`), 200);
    await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}/events`), 200);
  });

  test('non-finite metrics stored by older versions (JSON null) read back schema-valid', async () => {
    const queued = await svc.http
      .post('/v1/training-jobs')
      .send({ datasetId, target: 'label', task: 'classification', training: { epochs: 1, seed: 2 } });
    await svc.waitForJob(queued.body.jobId);
    const key = metricsKey(svc.config.redisPrefix, queued.body.jobId);
    const [first] = await svc.app.redis.lrange(key, 0, 0);
    const epoch = JSON.parse(first) as Record<string, unknown>;
    // NaN and Infinity are written as null by JSON.stringify: an optional field, then a required one.
    await svc.app.redis.rpush(
      key,
      JSON.stringify({ ...epoch, epoch: 2, valLoss: null, gap: null, valAccuracy: null }),
      JSON.stringify({ ...epoch, epoch: 3, trainLoss: null, kernelL2: null }),
    );
    const job = await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}`), 200);
    const metrics = (job.body as unknown as { metrics: Record<string, unknown>[] }).metrics;
    assert.deepEqual(
      metrics.map((m) => m.epoch),
      [1, 2],
      'the epoch without its required numbers is left out',
    );
    assert.equal(metrics[1].valLoss, undefined);
    await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}/report`), 200);
    await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}/curves.svg`), 200);
    await valid(svc.http.get(`/v1/training-jobs/${queued.body.jobId}/events`), 200);
  });

  test('predict: a value beyond float32, or one the model cannot compute with, is a 400 naming the feature', async () => {
    const url = `/v1/models/${modelId}/predict`;
    for (const body of [{ inputs: [[1e39, 0.5, 'red']] }, { rows: [{ a: 0.1, b: -2e39, color: 'red' }] }]) {
      const res = await valid(svc.http.post(url).send(body), 400);
      assert.match(res.body.error!.message, /feature "[ab]" is -?[12]e\+39, outside the range the model computes in/);
    }
    // Within float32, but ~5e38 standard deviations from the training mean: the network's output
    // is not a number. Named, instead of answered with null probabilities.
    const far = await valid(
      svc.http.post(url).send({
        inputs: [
          [0.2, 0.1, 'red'],
          [3e38, 0.5, 'red'],
        ],
      }),
      400,
    );
    assert.match(
      far.body.error!.message,
      /^row 1: the model's output is not a finite number; feature "a" \(3e\+38\) is [\d.e+]+ standard deviations from its training mean/,
    );
    await valid(svc.http.post(url).send({ inputs: [[1e30, 0.5, 'red']] }), 200);
  });
});
