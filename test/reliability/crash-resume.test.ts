import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { modelKey } from '../../src/store/model-store';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const EPOCHS = 24;

/**
 * Kills real worker processes in the middle of a training job. The job must finish with all its
 * epochs, continuing from the last checkpoint rather than from epoch 0.
 */
describe('training jobs survive crashes', () => {
  let svc: TestService;
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  before(async () => {
    // No in-process worker: the workers here are separate processes that the tests kill.
    svc = await startService({
      worker: false,
      env: { JOB_LOCK_MS: '1000', JOB_STALLED_INTERVAL_MS: '1000', JOB_BACKOFF_MS: '200' },
    });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(1_500));
    datasetId = upload.body.id;
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    await svc.close();
  });

  function spawnWorker(): WorkerProcess {
    const worker = startWorkerProcess(svc.config);
    workers.push(worker);
    return worker;
  }

  async function queueJob(): Promise<string> {
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 96, normalization: 'batch', dropout: 0.1 },
          { units: 96, normalization: 'layer' },
        ],
      },
      training: { epochs: EPOCHS, batchSize: 16, seed: 11 },
    });
    assert.equal(res.status, 202);
    return res.body.jobId;
  }

  async function assertResumed(jobId: string, killedAfter: number) {
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'completed', JSON.stringify(job.body.error));
    // Every epoch exactly once, in order: resumed, not restarted, and not run twice.
    assert.deepEqual(
      job.body.metrics.map((m: { epoch: number }) => m.epoch),
      Array.from({ length: EPOCHS }, (_, i) => i + 1),
    );
    assert.deepEqual(job.body.progress, { epoch: EPOCHS, epochs: EPOCHS });
    assert.equal(job.body.resumedAt.length, 1, `resumedAt ${JSON.stringify(job.body.resumedAt)}`);
    assert.ok(
      job.body.resumedAt[0] >= killedAfter && job.body.resumedAt[0] < EPOCHS,
      `resumed at epoch ${job.body.resumedAt[0]}, killed after ${killedAfter}`,
    );
    return job.body;
  }

  test('SIGKILL of the worker process: another worker takes the job over through stalled detection', async () => {
    const jobId = await queueJob();
    const stalled: string[] = [];
    svc.events.on('stalled', ({ jobId: id }) => stalled.push(id));
    const first = spawnWorker();
    await svc.waitForEpoch(jobId, 4);
    const sandboxes = first.sandboxPids();
    assert.ok(sandboxes.length > 0, 'the worker trains in a sandboxed child process');
    first.child.kill('SIGKILL');
    await first.exited;
    // The orphaned sandbox notices its parent is gone and exits: two trainers never share a job.
    await waitUntil(() => sandboxes.every((pid) => !alive(pid)), 10_000, 'sandbox child to exit');

    spawnWorker();
    await svc.waitForJob(jobId, 180_000);
    const job = await assertResumed(jobId, 4);
    assert.deepEqual(stalled, [jobId], 'recovered through stalled-job detection');
    assert.equal(job.attempts, 1, 'a stall is not a failed attempt');
  });

  test('SIGKILL of the sandboxed child: the job is retried and resumes from its checkpoint', async () => {
    await Promise.all(workers.splice(0).map(stopWorkerProcess));
    const jobId = await queueJob();
    const worker = spawnWorker();
    await svc.waitForEpoch(jobId, 3);
    const [sandbox] = worker.sandboxPids();
    assert.ok(sandbox, 'found the sandboxed child');
    process.kill(sandbox, 'SIGKILL');
    await svc.waitForJob(jobId, 180_000);
    const job = await assertResumed(jobId, 3);
    assert.equal(job.attempts, 2, 'the crash cost one attempt, the retry finished the job');
  });

  test('a job SIGKILLed mid-run and resumed gives the same model as an uninterrupted run, bit for bit', async () => {
    await Promise.all(workers.splice(0).map(stopWorkerProcess));
    // Small and quick: batch norm (its running statistics and the recount at the end), dropout
    // (the trainer's stream), Adam (its slots), a shuffle per epoch and early stopping's best
    // weights (patience beyond the run: it never stops, but restores the best epoch's weights
    // when that is not the last) all cross the resume.
    const request = {
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32, normalization: 'batch', dropout: 0.1 }, { units: 16 }] },
      training: { epochs: 8, batchSize: 16, seed: 23, earlyStopping: { patience: 100 } },
    };
    const submit = async () => {
      const res = await svc.http.post('/v1/training-jobs').send(request);
      assert.equal(res.status, 202);
      return res.body.jobId as string;
    };
    const weights = async (jobId: string) => {
      const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
      assert.equal(job.body.state, 'completed', JSON.stringify(job.body.error));
      const stored = await svc.app.redis.hgetBuffer(modelKey(svc.config.redisPrefix, job.body.modelId), 'weights');
      assert.ok(stored, `model ${job.body.modelId} stored`);
      return { job: job.body, weights: stored };
    };

    const reference = await submit();
    spawnWorker();
    await svc.waitForJob(reference, 180_000);
    const uninterrupted = await weights(reference);
    assert.deepEqual(uninterrupted.job.resumedAt ?? [], [], 'the reference ran without interruption');

    const killed = await submit();
    const first = workers[0];
    await svc.waitForEpoch(killed, 3);
    first.child.kill('SIGKILL');
    for (const pid of first.sandboxPids()) process.kill(pid, 'SIGKILL');
    await first.exited;
    spawnWorker();
    await svc.waitForJob(killed, 180_000);
    const resumed = await weights(killed);
    assert.equal(resumed.job.resumedAt?.length, 1, `resumedAt ${JSON.stringify(resumed.job.resumedAt)}`);
    assert.ok(resumed.job.resumedAt[0] >= 3 && resumed.job.resumedAt[0] < 8, `resumedAt ${resumed.job.resumedAt}`);

    const a = floats(uninterrupted.weights);
    const b = floats(resumed.weights);
    assert.equal(a.length, b.length);
    let maxDelta = 0;
    for (let i = 0; i < a.length; i++) maxDelta = Math.max(maxDelta, Math.abs(a[i] - b[i]));
    assert.ok(
      uninterrupted.weights.equals(resumed.weights),
      `the resumed model differs from the uninterrupted one: max |Δ| ${maxDelta} over ${a.length} weights`,
    );
    // The epochs' figures too (their durations aside): the resumed run is the same run.
    const figures = (metrics: { durationMs?: number }[]) => metrics.map(({ durationMs: _, ...m }) => m);
    assert.deepEqual(figures(resumed.job.metrics), figures(uninterrupted.job.metrics));
  });

  test('an attempt killed right after it resumed, before its first epoch, is still listed in resumedAt', async () => {
    await Promise.all(workers.splice(0).map(stopWorkerProcess));
    const jobId = await queueJob();
    const kill = async (worker: WorkerProcess) => {
      worker.child.kill('SIGKILL');
      for (const pid of worker.sandboxPids()) process.kill(pid, 'SIGKILL');
      await worker.exited;
    };
    const first = spawnWorker();
    await svc.waitForEpoch(jobId, 3);
    await kill(first);
    // The second worker takes the job over and resumes it: killed as soon as it says so.
    const second = spawnWorker();
    const resuming = new RegExp(`training process: job ${jobId} attempt \\d+ starts after epoch [1-9]`);
    await waitUntil(() => resuming.test(second.output()), 60_000, 'the second worker to resume the job');
    await kill(second);
    spawnWorker();
    await svc.waitForJob(jobId, 180_000);
    const job = (await svc.http.get(`/v1/training-jobs/${jobId}`)).body;
    assert.equal(job.state, 'completed', JSON.stringify(job.error));
    assert.deepEqual(
      job.metrics.map((m: { epoch: number }) => m.epoch),
      Array.from({ length: EPOCHS }, (_, i) => i + 1),
    );
    // Two resumptions: the second worker's (written when it resumed) and the third's. Before, a
    // resumption was written only with the attempt's first checkpoint, and this one was lost.
    assert.equal(job.resumedAt.length, 2, `resumedAt ${JSON.stringify(job.resumedAt)}`);
    assert.ok(job.resumedAt[0] >= 3, `resumedAt ${JSON.stringify(job.resumedAt)}`);
  });
});

/** A stored model's weights (little-endian float32) as numbers; a Buffer may sit at any offset. */
function floats(bytes: Buffer): Float32Array {
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
