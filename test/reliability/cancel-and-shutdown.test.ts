import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const EPOCHS = 20;

describe('cancellation and graceful shutdown', () => {
  let svc: TestService;
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(3_000));
    datasetId = upload.body.id;
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    await svc.close();
  });

  async function queueJob(epochs = EPOCHS): Promise<string> {
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 96, normalization: 'batch' }, { units: 96 }] },
      training: { epochs, batchSize: 16, seed: 3 },
    });
    assert.equal(res.status, 202);
    return res.body.jobId;
  }

  function spawnWorker(env: Record<string, string> = {}): WorkerProcess {
    const worker = startWorkerProcess(svc.config, env);
    workers.push(worker);
    return worker;
  }

  test('DELETE removes a waiting job; it reads as cancelled', async () => {
    const jobId = await queueJob();
    const res = await svc.http.delete(`/v1/training-jobs/${jobId}`);
    assert.equal(res.status, 202);
    assert.deepEqual(res.body, { jobId, state: 'cancelled' });
    assert.equal(await svc.app.trainingQueue.getJob(jobId), undefined, 'removed from the queue');
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.status, 200);
    assert.equal(job.body.state, 'cancelled');
    assert.deepEqual(job.body.metrics, []);
  });

  test('DELETE stops an active job after its current batch; partial metrics are kept', async () => {
    spawnWorker();
    const jobId = await queueJob();
    await svc.waitForEpoch(jobId, 2);
    // Sent through the API, not to the worker: any replica can cancel through Redis.
    const res = await svc.http.delete(`/v1/training-jobs/${jobId}`);
    assert.equal(res.status, 202);
    assert.equal(res.body.state, 'cancelling');
    await assert.rejects(svc.waitForJob(jobId, 60_000), /cancelled by request/);
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'cancelled');
    assert.ok(
      job.body.metrics.length >= 2 && job.body.metrics.length < EPOCHS,
      `kept ${job.body.metrics.length} epochs`,
    );
    assert.equal(job.body.modelId, undefined);
    assert.equal(job.body.attempts, 1, 'a cancellation is not retried');
    // The job has finished (cancelled): a second DELETE removes it.
    const again = await svc.http.delete(`/v1/training-jobs/${jobId}`);
    assert.equal(again.status, 204);
    assert.equal((await svc.http.get(`/v1/training-jobs/${jobId}`)).status, 404);
    await Promise.all(workers.splice(0).map(stopWorkerProcess));
  });

  test('SIGTERM past the grace period: the job goes back to the queue and resumes elsewhere', async () => {
    const worker = spawnWorker({ SHUTDOWN_GRACE_MS: '1000' });
    const jobId = await queueJob();
    await svc.waitForEpoch(jobId, 3);
    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.output());
    const took = Date.now() - signalled;
    assert.ok(took < 5_000, `the worker took ${took} ms to stop with a 1 s grace period`);
    const waiting = await svc.app.trainingQueue.getJob(jobId);
    assert.equal(await waiting!.getState(), 'waiting', 'handed back, not failed and not stalled');

    spawnWorker();
    await svc.waitForJob(jobId, 120_000);
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'completed');
    assert.equal(job.body.metrics.length, EPOCHS);
    assert.equal(job.body.resumedAt.length, 1);
    assert.ok(job.body.resumedAt[0] >= 3, `resumed at ${job.body.resumedAt[0]}`);
    assert.equal(job.body.attempts, 1, 'a shutdown does not use up an attempt');
    await Promise.all(workers.splice(0).map(stopWorkerProcess));
  });

  test('SIGTERM within the grace period: the running job finishes first', async () => {
    const worker = spawnWorker({ SHUTDOWN_GRACE_MS: '60000' });
    const jobId = await queueJob(6);
    await svc.waitForEpoch(jobId, 1);
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, worker.output());
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'completed');
    assert.equal(job.body.metrics.length, 6);
    assert.deepEqual(job.body.resumedAt, []);
  });
});
