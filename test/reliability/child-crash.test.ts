import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/**
 * Only the sandboxed training process dies (SIGKILL, as the OOM killer does), not its worker.
 * The policy (jobs/training-crash-policy.ts): a job that makes progress between deaths is resumed
 * from its checkpoint however often it dies; one that dies JOB_ATTEMPTS times in a row at the same
 * epoch fails, saying so and naming the likely cause. Never a job left active.
 */
describe('a training process that dies', () => {
  let svc: TestService;
  let worker: WorkerProcess;

  before(async () => {
    svc = await startService({ worker: false, env: { JOB_ATTEMPTS: '2', JOB_BACKOFF_MS: '200' } });
    worker = startWorkerProcess(svc.config, { LOG_LEVEL: 'info' });
    await worker.ready;
  });
  after(async () => {
    await stopWorkerProcess(worker);
    await svc.close();
  });

  async function upload(rows: number): Promise<string> {
    const res = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(rows));
    assert.equal(res.status, 201);
    return res.body.id;
  }

  async function progressOf(jobId: string): Promise<number> {
    const job = await svc.app.trainingQueue.getJob(jobId);
    return (job?.progress as { epoch?: number } | undefined)?.epoch ?? 0;
  }

  async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 150_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Kills the sandboxed trainer that is running `jobId` now (not one killed before), once it has begun its attempt. */
  async function killTrainer(jobId: string, killed: Set<number>): Promise<void> {
    const begun = () => worker.output().split(`training process: job ${jobId} attempt`).length - 1;
    await waitUntil(async () => begun() > killed.size, 'the trainer to begin its attempt');
    let pid: number | undefined;
    await waitUntil(
      async () => (pid = worker.sandboxPids().find((p) => !killed.has(p))) !== undefined,
      'a new trainer',
    );
    killed.add(pid!);
    process.kill(pid!, 'SIGKILL');
  }

  test('three deaths with progress between them: the job completes, each epoch once', async () => {
    const EPOCHS = 30;
    const datasetId = await upload(3_000);
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      training: { epochs: EPOCHS, batchSize: 32, seed: 4 },
    });
    assert.equal(res.status, 202);
    const jobId: string = res.body.jobId;
    const killed = new Set<number>();
    let last = 0;
    for (let kill = 0; kill < 3; kill++) {
      await waitUntil(async () => (await progressOf(jobId)) > last, `epoch ${last + 1}`);
      last = await progressOf(jobId);
      assert.ok(last < EPOCHS, 'the job is still training when its trainer is killed');
      await killTrainer(jobId, killed);
    }
    await svc.waitForJob(jobId, 170_000).catch(() => undefined);
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'completed', JSON.stringify(job.body.error));
    assert.deepEqual(
      job.body.metrics.map((m: { epoch: number }) => m.epoch),
      Array.from({ length: EPOCHS }, (_, i) => i + 1),
    );
    assert.equal(job.body.resumedAt.length, 3, JSON.stringify(job.body.resumedAt));
  });

  test('JOB_ATTEMPTS deaths in a row at the same epoch: failed, saying why', async () => {
    // One epoch is thousands of batches, so each trainer is killed before it finishes one.
    const datasetId = await upload(30_000);
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 8 }] },
      training: { epochs: 2, batchSize: 2, seed: 4 },
    });
    assert.equal(res.status, 202);
    const jobId: string = res.body.jobId;
    const killed = new Set<number>();
    for (let kill = 0; kill < 2; kill++) await killTrainer(jobId, killed);
    await waitUntil(
      async () => (await svc.app.trainingQueue.getJob(jobId))?.failedReason?.includes('in a row') ?? false,
      'the job to fail as a crash loop',
    ).catch(async (error: unknown) => {
      const job = await svc.app.trainingQueue.getJob(jobId);
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}: ${await job?.getState()} ${job?.failedReason} ${worker.output().slice(-3000)}`,
      );
    });
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'failed');
    assert.match(JSON.stringify(job.body.error), /died 2 times in a row at epoch 0.*SIGKILL.*memory/);
    assert.equal((await svc.app.trainingQueue.getJobCounts('active')).active, 0, 'no job left active');
  });
});
