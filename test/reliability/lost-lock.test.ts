import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ModelStore } from '../../src/store/model-store';
import { bullmqJobKeys } from '../../src/training-jobs/fenced-job-state';
import { TRAINING_QUEUE } from '../../jobs/training-queue';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/**
 * A trainer whose worker can no longer renew the job's lock stops at once, mid-epoch, instead of
 * training on until its next write is refused. Only the worker process is frozen (SIGSTOP), not
 * its sandboxed trainer: the trainer keeps running while the lock lapses and another worker takes
 * the job over. One epoch of this job is thousands of batches (many seconds, longer still on a
 * loaded machine), while the lock lapses within JOB_LOCK_MS (2 s) of the freeze, so the lost lock
 * is met at a batch, in the middle of the first epoch.
 */
describe('a trainer stops at the first failed lock renewal', () => {
  let svc: TestService;
  let redis: Redis;
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  before(async () => {
    svc = await startService({
      worker: false,
      env: { JOB_LOCK_MS: '2000', JOB_STALLED_INTERVAL_MS: '1000', JOB_BACKOFF_MS: '200' },
    });
    redis = new Redis(svc.config.redisUrl);
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(30_000));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    datasetId = upload.body.id;
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    redis.disconnect();
    await svc.close();
  });

  test('worker frozen, trainer running: the trainer stops at its next batch, the job completes once', async () => {
    const pair = [
      startWorkerProcess(svc.config, { LOG_LEVEL: 'info' }),
      startWorkerProcess(svc.config, { LOG_LEVEL: 'info' }),
    ];
    workers.push(...pair);
    await Promise.all(pair.map((w) => w.ready));
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 8 }] },
      training: { epochs: 1, batchSize: 2, seed: 3 },
    });
    assert.equal(res.status, 202);
    const jobId: string = res.body.jobId;
    // Progress { epoch: 0 } is written when the attempt starts, just before the first batch.
    await svc.waitForEpoch(jobId, 0);
    const lockKey = bullmqJobKeys({ jobId, queueName: TRAINING_QUEUE, bullPrefix: svc.config.redisPrefix }).lock;
    const firstToken = await redis.get(lockKey);
    assert.ok(firstToken, 'the job is locked by the worker that runs it');
    await waitUntil(async () => pair.some((w) => w.sandboxPids().length > 0), 60_000, 'a sandboxed trainer');
    const first = pair.find((w) => w.sandboxPids().length > 0)!;
    const second = pair.find((w) => w !== first)!;

    process.kill(first.child.pid!, 'SIGSTOP');
    try {
      // The lock lapses (no renewal) and the other worker's stalled-job check hands it the job.
      await waitUntil(
        async () => {
          const token = await redis.get(lockKey);
          return token !== null && token !== firstToken && second.sandboxPids().length > 0;
        },
        120_000,
        'the other worker to take the job over',
      );
    } finally {
      process.kill(first.child.pid!, 'SIGCONT');
    }
    // The trainer's output reaches the test through its (now thawed) worker.
    await waitUntil(
      async () => /no longer locked by this worker/.test(first.output()),
      240_000,
      'the first trainer to give the job up',
    );
    assert.match(
      first.output(),
      new RegExp(`job ${jobId} is no longer locked by this worker \\(lock check after a batch of epoch 1\\)`),
      'the trainer found the lost lock at a batch of the first epoch, not at a refused write after it',
    );

    await svc.waitForJob(jobId, 600_000);
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'completed', JSON.stringify(job.body.error));
    assert.deepEqual(
      job.body.metrics.map((m: { epoch: number }) => m.epoch),
      [1],
      'one metrics entry for the one epoch',
    );
    const models = (await new ModelStore(redis, svc.config.redisPrefix).list(0, 1_000)).filter(
      (m) => m.jobId === jobId,
    );
    assert.deepEqual(
      models.map((m) => m.id),
      [job.body.modelId],
      'one model for the job',
    );
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
