import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

/** Finished jobs are trimmed so Redis memory stays bounded; their models stay. */
describe('job retention', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ env: { JOB_KEEP_COMPLETED: '1' } });
  });
  after(async () => {
    await svc.close();
  });

  test('beyond JOB_KEEP_COMPLETED the oldest finished job is removed, and its model is kept', async () => {
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(80));
    const run = async () => {
      const queued = await svc.http.post('/v1/training-jobs').send({
        datasetId: upload.body.id,
        target: 'label',
        task: 'classification',
        training: { epochs: 2, seed: 1 },
      });
      await svc.waitForJob(queued.body.jobId);
      return (await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body;
    };
    const first = await run();
    const second = await run();
    assert.equal((await svc.http.get(`/v1/training-jobs/${first.jobId}`)).status, 404, 'the older job is gone');
    assert.equal((await svc.http.get(`/v1/training-jobs/${second.jobId}`)).status, 200, 'the newest job is kept');
    assert.equal((await svc.http.get(`/v1/models/${first.modelId}`)).status, 200, 'models outlive their jobs');
    const job = await svc.app.trainingQueue.getJob(second.jobId);
    assert.deepEqual(job!.opts.removeOnComplete, { age: svc.config.jobKeepSeconds, count: 1 });
    assert.deepEqual(job!.opts.removeOnFail, { age: svc.config.jobKeepSeconds });
  });
});
