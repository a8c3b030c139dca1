import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseCsv } from '../../src/data/parse-dataset';
import { trainingRequestSchema } from '../../src/schemas/training-request.schema';
import { crossValidate } from '../../src/training/cross-validate';
import { CANCELLED_REASON, foldJobId } from '../../src/training-jobs/contract';
import { readFoldRecords } from '../../src/training-jobs/fold-records';
import { metricsKey } from '../../src/training-jobs/keys';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { useWasmBackend } from '../helpers/tf';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const CSV = xorCsv(200, 3);

/**
 * 5-fold cross-validation in real worker processes (the sandboxed processor, as deployed). The
 * folds are child jobs of the request's job in the training queue: two worker processes share
 * them, each fold is recorded once (with the pid of the worker that trained it) even when a
 * worker is killed mid-fold, the figures are those of the folds run one after the other in one
 * process, and DELETE of the job stops its folds.
 */
describe('cross-validation folds across worker processes', () => {
  let svc: TestService;
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  /** Every fold run one after the other in this process, as crossValidate does (the JSON the API returns). */
  async function inOneProcess(body: typeof request): Promise<unknown> {
    await useWasmBackend();
    const table = parseCsv(CSV, { maxRows: 1000, maxColumns: 10 });
    const local = await crossValidate(trainingRequestSchema.parse({ datasetId, ...body }), table, body.training.seed);
    return JSON.parse(JSON.stringify(local));
  }

  const request = {
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units: 16 }] },
    training: { epochs: 8, seed: 21, testSplit: 0.2, learningRate: 0.05 },
    validation: { folds: 5 },
  };

  before(async () => {
    svc = await startService({
      worker: false,
      // A killed worker's fold is taken over after its lock lapses; the machine may be loaded.
      env: {
        JOB_LOCK_MS: '2000',
        JOB_STALLED_INTERVAL_MS: '1000',
        JOB_BACKOFF_MS: '200',
        OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      },
    });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(CSV);
    assert.equal(upload.status, 201);
    datasetId = upload.body.id;
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    await svc.close();
  });

  async function spawnWorker(): Promise<WorkerProcess> {
    // At info, so that the worker writes the line `ready` waits for (the test config is silent).
    const worker = startWorkerProcess(svc.config, { LOG_LEVEL: 'info' });
    workers.push(worker);
    await worker.ready;
    return worker;
  }

  async function waitFor(jobId: string) {
    await svc.waitForJob(jobId, 240_000).catch((error: unknown) => {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}; worker output:\n${workers.map((w) => w.output()).join('\n---\n')}`,
      );
    });
    return (await svc.http.get(`/v1/training-jobs/${jobId}`)).body;
  }

  /** Resolves with the id of the first fold job of `jobId` to report an epoch. */
  function firstFoldEpoch(jobId: string): Promise<string> {
    return new Promise((resolve) => {
      const onProgress = ({ jobId: id }: { jobId: string }) => {
        if (id.startsWith(`${jobId}-fold`)) {
          svc.events.off('progress', onProgress);
          resolve(id);
        }
      };
      svc.events.on('progress', onProgress);
    });
  }

  test('5 folds over two worker processes: both train folds; mean ± sd and out-of-fold metrics as in one process', async () => {
    const [a, b] = await Promise.all([spawnWorker(), spawnWorker()]);
    const res = await svc.http.post('/v1/training-jobs').send({ datasetId, ...request });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const job = await waitFor(res.body.jobId);
    assert.equal(job.state, 'completed', job.error);
    const cv = job.crossValidation;
    assert.equal(cv.folds, 5);
    assert.deepEqual(
      cv.perFold.map((f: { fold: number }) => f.fold),
      [1, 2, 3, 4, 5],
    );
    assert.equal(cv.rows, 160);
    assert.ok(cv.summary.valLoss.sd > 0, 'the folds differ');
    assert.equal(cv.summary.accuracy.folds, 5);
    assert.equal(cv.outOfFold.rows, 160);

    const records = await readFoldRecords(svc.app.redis, svc.config.redisPrefix, job.jobId);
    assert.deepEqual([...records.keys()].sort(), [1, 2, 3, 4, 5]);
    const pids = new Set([...records.values()].map((r) => r.ranBy.workerPid));
    assert.deepEqual(
      [...pids].sort(),
      [a.child.pid, b.child.pid].sort(),
      `both worker processes trained folds: ${JSON.stringify([...records].map(([f, r]) => [f, r.ranBy]))}`,
    );

    // The same figures as every fold run one after the other in this process (to float32
    // rounding: the worker processes' WASM kernels sum in a different order in the last bits).
    assertClose(cv, await inOneProcess(request), 'cv');

    // Where the diagnosis weighed a gap, it weighed it against the spread across folds.
    const source = job.diagnosis.evidence.uncertaintySource;
    if (source !== undefined) assert.equal(source, 'folds');
    const model = (await svc.http.get(`/v1/models/${job.modelId}`)).body;
    assert.deepEqual(model.crossValidation, cv);
    const page = await svc.http.get(`/v1/training-jobs/${job.jobId}/report`);
    assert.match(page.text, /Cross-validation: 5 folds over 160 rows/);
    assert.match(page.text, /<th>mean ± sd<\/th>/);
    // The folds are the job's inner work, not jobs of the API.
    assert.equal((await svc.http.get(`/v1/training-jobs/${foldJobId(job.jobId, 0)}`)).status, 404);
  });

  test('SIGKILL of a worker mid-fold: the job completes, every fold recorded once, the same figures', async () => {
    // Folds long enough (40 epochs, no early stopping) that the kill lands inside one.
    const long = { ...request, training: { ...request.training, epochs: 40 } };
    const res = await svc.http.post('/v1/training-jobs').send({ datasetId, ...long });
    assert.equal(res.status, 202);
    const jobId: string = res.body.jobId;
    const foldId = await firstFoldEpoch(jobId);
    // The sandbox's line reaches the test through two pipes, possibly after the fold's first epoch event.
    const startLine = `job ${foldId} attempt 1 starts`;
    const deadline = Date.now() + 10_000;
    let victim: WorkerProcess | undefined;
    while (!(victim = workers.find((w) => w.output().includes(startLine))) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(victim, `found the worker training ${foldId}`);
    victim.child.kill('SIGKILL');
    await victim.exited;
    const job = await waitFor(jobId);
    assert.equal(job.state, 'completed', job.error);
    const records = await readFoldRecords(svc.app.redis, svc.config.redisPrefix, jobId);
    assert.deepEqual([...records.keys()].sort(), [1, 2, 3, 4, 5]);
    const fold = Number(foldId.slice(foldId.lastIndexOf('fold') + 4));
    assert.notEqual(
      records.get(fold)!.ranBy.workerPid,
      victim.child.pid,
      'the killed fold was finished by another worker',
    );
    // Every fold's epochs once each, in order: the killed fold continued from its checkpoint.
    for (let f = 0; f < 5; f++) {
      const epochs = (await svc.app.redis.lrange(metricsKey(svc.config.redisPrefix, foldJobId(jobId, f)), 0, -1)).map(
        (raw) => (JSON.parse(raw) as { epoch: number }).epoch,
      );
      assert.deepEqual(
        epochs,
        Array.from({ length: job.crossValidation.perFold[f].epochsRun }, (_, i) => i + 1),
        `fold ${f + 1}`,
      );
    }
    assertClose(job.crossValidation, await inOneProcess(long), 'cv');
  });

  test('DELETE of the job cancels its folds: waiting ones removed, running ones stopped', async () => {
    while (workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null).length < 2)
      await spawnWorker();
    const res = await svc.http
      .post('/v1/training-jobs')
      .send({ datasetId, ...request, training: { ...request.training, epochs: 400 } });
    assert.equal(res.status, 202);
    const jobId: string = res.body.jobId;
    const running = await firstFoldEpoch(jobId);
    const cancel = await svc.http.delete(`/v1/training-jobs/${jobId}`);
    assert.equal(cancel.status, 202);
    const deadline = Date.now() + 60_000;
    let states: (string | undefined)[] = [];
    for (;;) {
      const job = (await svc.http.get(`/v1/training-jobs/${jobId}`)).body;
      states = await Promise.all(
        Array.from({ length: 5 }, async (_, f) => {
          const fold = await svc.app.trainingQueue.getJob(foldJobId(jobId, f));
          return fold ? `${await fold.getState()}:${fold.failedReason ?? ''}` : undefined;
        }),
      );
      if (job.state === 'cancelled' && states.every((s) => s === undefined || s.startsWith('failed'))) break;
      if (Date.now() > deadline) throw new Error(`job ${job.state}, folds ${JSON.stringify(states)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const runningState = states[Number(running.slice(running.lastIndexOf('fold') + 4)) - 1];
    assert.equal(runningState, `failed:${CANCELLED_REASON}`, 'the running fold stopped at the flag');
    assert.ok(
      states.some((s) => s === undefined),
      `waiting folds were removed: ${JSON.stringify(states)}`,
    );
    const records = await readFoldRecords(svc.app.redis, svc.config.redisPrefix, jobId);
    assert.equal(records.size, 0, 'no fold of 400 epochs finished');
  });
});

/**
 * `actual` equals `expected` with the same keys, arrays and strings, and numbers equal to 1e-5
 * relative (1e-7 absolute near zero): float32 rounding, grown over the epochs.
 */
function assertClose(actual: unknown, expected: unknown, path: string): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const tolerance = Math.max(1e-7, 1e-5 * Math.abs(expected));
    assert.ok(Math.abs(actual - expected) <= tolerance, `${path}: ${actual} vs ${expected}`);
    return;
  }
  if (expected === null || typeof expected !== 'object') {
    assert.deepEqual(actual, expected, path);
    return;
  }
  assert.ok(actual !== null && typeof actual === 'object', `${path}: ${JSON.stringify(actual)} is not an object`);
  assert.equal(Array.isArray(actual), Array.isArray(expected), `${path}: array vs object`);
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  assert.deepEqual(Object.keys(a).sort(), Object.keys(e).sort(), `${path}: keys`);
  for (const key of Object.keys(e)) assertClose(a[key], e[key], `${path}.${key}`);
}
