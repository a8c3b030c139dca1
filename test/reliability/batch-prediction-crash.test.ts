import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, type TestService } from '../helpers/app';
import { idXorCsv, parseResults, waitForBatch } from '../helpers/batch-predictions';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';
import { trainStoredModel } from '../serving/stored-model';
import { assertClose } from '../helpers/tf';

const ROWS = 100_000;
const CHUNK_ROWS = 4_096;
const CHUNKS = Math.ceil(ROWS / CHUNK_ROWS);

/**
 * The done-when of issue 14's batch prediction: a 100k-row dataset batch-predicted by a real
 * worker process that is SIGKILLed midway; a second worker takes the batch over through BullMQ's
 * stalled-job check, does only the chunks not yet recorded, and every row is predicted exactly
 * once, with the numbers /v1 predict gives.
 */
describe('batch prediction survives a worker SIGKILL', () => {
  let svc: TestService;
  const workers: WorkerProcess[] = [];
  const CSV = idXorCsv(ROWS, 7);

  before(async () => {
    svc = await startService({
      worker: false,
      env: {
        JOB_LOCK_MS: '1000',
        JOB_STALLED_INTERVAL_MS: '1000',
        JOB_BACKOFF_MS: '200',
        DATASET_CHUNK_ROWS: String(CHUNK_ROWS),
        RATE_LIMIT_MAX: '0',
        OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
      },
    });
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    await svc.close();
  });

  test('SIGKILL midway: completes, every row exactly once, equal to direct predict', async () => {
    const started = Date.now();
    const step = (what: string) => console.error(`${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
    const upload = await svc.http.post('/v1/datasets').type('text/csv').send(CSV);
    step('dataset uploaded');
    assert.equal(upload.status, 201, upload.text);
    // Wide enough that a chunk takes a noticeable time, so the kill lands between chunks.
    const model = await trainStoredModel(idXorCsv(400), {
      target: 'label',
      task: 'classification',
      features: { drop: ['customer_id'] },
      model: { hidden: [{ units: 128 }, { units: 128 }] },
      training: { epochs: 1, seed: 5 },
    });
    await svc.app.models.save(model.meta, model.frozen);

    step('model stored');
    const first = startWorkerProcess(svc.config);
    workers.push(first);
    const queued = await svc.http
      .post('/v1/batch-predictions')
      .send({ modelId: model.meta.id, datasetId: upload.body.id });
    assert.equal(queued.status, 202, queued.text);
    const batchId = queued.body.batchId as string;

    // Kill once a few chunks are recorded.
    let doneAtKill = 0;
    for (;;) {
      const status = await svc.http.get(`/v1/batch-predictions/${batchId}`);
      doneAtKill = status.body.progress.chunksDone;
      if (doneAtKill >= 2 || (status.body.state !== 'waiting' && status.body.state !== 'active')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const sandboxes = first.sandboxPids();
    first.child.kill('SIGKILL');
    await first.exited;
    assert.ok(doneAtKill < CHUNKS, `the kill landed midway (${doneAtKill} of ${CHUNKS} chunks done)`);

    step(`first worker killed after ${doneAtKill} chunks`);
    const second = startWorkerProcess(svc.config);
    workers.push(second);
    const batch = await waitForBatch((url) => svc.http.get(url), batchId, 120_000).catch((error: unknown) => {
      throw new Error(
        `${String(error)}\nfirst worker:\n${first.output().slice(-3000)}\nsecond worker:\n${second.output().slice(-3000)}`,
      );
    });
    assert.equal(batch.state, 'completed', JSON.stringify(batch));
    assert.deepEqual(batch.progress, { chunksDone: CHUNKS, chunks: CHUNKS, rowsDone: ROWS, rows: ROWS });
    // The second attempt started with the chunks the first had recorded (its orphaned sandbox may
    // have finished one more before it noticed its parent was gone), and did only the rest.
    const resumedAt = batch.resumedAt as number[];
    assert.equal(resumedAt.length, 1, JSON.stringify(resumedAt));
    assert.ok(
      resumedAt[0] >= doneAtKill && resumedAt[0] < CHUNKS,
      `resumed at ${resumedAt[0]}, killed at ${doneAtKill}`,
    );
    assert.ok(
      sandboxes.every((pid) => !alive(pid)),
      'the first worker’s sandbox exited',
    );

    const res = await svc.http.get(`/v1/batch-predictions/${batchId}/results.csv`);
    assert.equal(res.status, 200);
    const { header, rows } = parseResults(res.text);
    assert.deepEqual(header, ['customer_id', 'prediction', 'probability_no', 'probability_yes']);
    assert.equal(rows.length, ROWS);
    // Every row exactly once, in dataset order.
    rows.forEach((row, i) => assert.equal(row[0], `c${i}`));

    const source = CSV.trimEnd().split('\n').slice(1);
    const sample = Array.from({ length: 200 }, (_, k) => (k * 7_919) % ROWS);
    const direct = await svc.http.post(`/v1/models/${model.meta.id}/predict`).send({
      rows: sample.map((i) => {
        const [, a, b, color] = source[i].split(',');
        return { a: Math.fround(Number(a)), b: Math.fround(Number(b)), color };
      }),
    });
    assert.equal(direct.status, 200, direct.text);
    sample.forEach((i, k) => {
      assert.equal(rows[i][1], direct.body.predictions[k], `row ${i}`);
      // To float32 rounding: the sum order depends on how many rows run together.
      assertClose(rows[i].slice(2).map(Number), direct.body.probabilities[k], 1e-6, `row ${i}`);
    });
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
