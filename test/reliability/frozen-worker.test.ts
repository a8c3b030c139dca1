import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ModelStore } from '../../src/store/model-store';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const EPOCHS = 30;

/**
 * A worker frozen past its lock (SIGSTOP: a long GC pause, a paused VM) loses its job to another
 * worker. Once thawed, its trainer must write nothing more to the job: every write is fenced by
 * the lock token, so it stops at its first one.
 */
describe('a frozen worker writes nothing more', () => {
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
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(600));
    datasetId = upload.body.id;
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    redis.disconnect();
    await svc.close();
  });

  function spawnWorker(): WorkerProcess {
    const worker = startWorkerProcess(svc.config, { LOG_LEVEL: 'info' });
    workers.push(worker);
    return worker;
  }

  test('SIGSTOP past the lock, another worker completes the job, SIGCONT: one entry per epoch, one model', async () => {
    const pair = [spawnWorker(), spawnWorker()];
    await Promise.all(pair.map((w) => w.ready));
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32, normalization: 'batch' }, { units: 32 }] },
      training: { epochs: EPOCHS, batchSize: 16, seed: 5 },
    });
    assert.equal(res.status, 202);
    const jobId: string = res.body.jobId;
    await svc.waitForEpoch(jobId, 3);

    // The worker that owns the job is the one with a sandboxed trainer.
    const first = pair.find((w) => w.sandboxPids().length > 0)!;
    assert.ok(first, 'one worker trains the job in a sandboxed child process');
    // Freeze the worker and its sandboxed trainer together, as a paused VM would.
    const frozen = [first.child.pid!, ...first.sandboxPids()];
    assert.ok(frozen.length >= 2, 'the worker trains in a sandboxed child process');
    for (const pid of frozen) process.kill(pid, 'SIGSTOP');
    const frozenAt = ((await svc.app.trainingQueue.getJob(jobId))!.progress as { epoch: number }).epoch;
    try {
      // Only the second worker can make progress now: it took the job over once the lock lapsed.
      await svc.waitForEpoch(jobId, frozenAt + 2);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
    }
    await svc.waitForJob(jobId, 240_000);
    // The thawed worker's attempt has ended once BullMQ refuses to record it (its lock is gone).
    // Before the fence, its trainer first trained on to the last epoch and saved a model.
    await waitUntil(
      () => new RegExp(`(Missing lock|Lock mismatch) for job ${jobId}`).test(first.output()),
      240_000,
      'the thawed worker to give the job up',
    );

    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'completed', JSON.stringify(job.body.error));
    assert.deepEqual(
      job.body.metrics.map((m: { epoch: number }) => m.epoch),
      Array.from({ length: EPOCHS }, (_, i) => i + 1),
      'one metrics entry per epoch',
    );
    assert.deepEqual(job.body.progress, { epoch: EPOCHS, epochs: EPOCHS });
    assert.equal(job.body.resumedAt.length, 1, `resumedAt ${JSON.stringify(job.body.resumedAt)}`);
    const models = (await new ModelStore(redis, svc.config.redisPrefix).list(0, 1_000)).filter(
      (m) => m.jobId === jobId,
    );
    assert.deepEqual(
      models.map((m) => m.id),
      [job.body.modelId],
      'one model for the job',
    );
    // Nothing of the job's in-flight state is left behind by the thawed trainer.
    assert.equal(await redis.exists(`${svc.config.redisPrefix}:job:${jobId}:checkpoint`), 0);
    assert.match(first.output(), /no longer locked by this worker/, 'the thawed trainer stopped at a refused write');
  });
});

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
