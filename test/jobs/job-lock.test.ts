import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * Training runs in a sandboxed child process, so the worker's event loop stays free to renew the
 * job lock. With a lock of 1 s checked every 1 s, a training run of several seconds must finish
 * as one attempt without ever being seen as stalled.
 */
describe('job lock during a long training run', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ workerOptions: { lockDuration: 1_000, stalledInterval: 1_000, maxStalledCount: 0 } });
  });
  after(async () => {
    await svc.close();
  });

  test('a run that outlasts lockDuration several times completes without stalling', async () => {
    const stalled: string[] = [];
    svc.events.on('stalled', ({ jobId }) => stalled.push(jobId));
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(2_000));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 128, normalization: 'batch' },
          { units: 128, normalization: 'layer' },
        ],
      },
      training: { epochs: 80, batchSize: 16, seed: 5 },
    });
    const started = Date.now();
    await svc.waitForJob(queued.body.jobId, 300_000);
    const elapsed = Date.now() - started;
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    assert.ok(elapsed > 3_000, `the run took ${elapsed} ms; it must outlast the 1 s lock several times`);
    assert.equal(job.body.state, 'completed');
    assert.deepEqual(stalled, []);
    assert.equal(job.body.attempts, 1);
    assert.equal(job.body.metrics.length, 80);
  });
});
