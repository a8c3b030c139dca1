import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/**
 * 5-fold cross-validation in real worker processes (the sandboxed processor, as deployed): two
 * processes, two jobs with the same request and seed. Cross-validation runs as one job (its
 * folds one after the other), so the two jobs are shared between the processes, not the folds
 * of one job. Both report the folds, mean ± sd and out-of-fold metrics, and — the folds and
 * every fold's training deriving from the seed — the same figures, whichever process ran them.
 */
describe('cross-validation across two worker processes', () => {
  let svc: TestService;
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(200, 3));
    assert.equal(upload.status, 201);
    datasetId = upload.body.id;
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    await svc.close();
  });

  test('both jobs complete with 5 folds, mean ± sd, out-of-fold metrics; the same seed gives the same figures', async () => {
    const request = {
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 16 }] },
      training: { epochs: 8, seed: 21, testSplit: 0.2, learningRate: 0.05 },
      validation: { folds: 5 },
    };
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await svc.http.post('/v1/training-jobs').send(request);
      assert.equal(res.status, 202, JSON.stringify(res.body));
      ids.push(res.body.jobId);
    }
    for (let i = 0; i < 2; i++) workers.push(startWorkerProcess(svc.config));
    await Promise.all(ids.map((id) => svc.waitForJob(id, 100_000))).catch((error: unknown) => {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)}; worker output:\n${workers.map((w) => w.output()).join('\n---\n')}`,
      );
    });
    const jobs = await Promise.all(ids.map(async (id) => (await svc.http.get(`/v1/training-jobs/${id}`)).body));
    for (const job of jobs) {
      assert.equal(job.state, 'completed', job.error);
      const cv = job.crossValidation;
      assert.equal(cv.folds, 5);
      assert.equal(cv.perFold.length, 5);
      assert.equal(cv.rows, 160);
      assert.ok(cv.summary.valLoss.sd > 0, 'the folds differ');
      assert.equal(cv.outOfFold.rows, 160);
      // Where the diagnosis weighed a gap, it weighed it against the spread across folds.
      const source = job.diagnosis.evidence.uncertaintySource;
      if (source !== undefined) assert.equal(source, 'folds');
      const model = (await svc.http.get(`/v1/models/${job.modelId}`)).body;
      assert.deepEqual(model.crossValidation, cv);
      const page = await svc.http.get(`/v1/training-jobs/${job.jobId}/report`);
      assert.match(page.text, /Cross-validation: 5 folds over 160 rows/);
      assert.match(page.text, /<th>mean ± sd<\/th>/);
    }
    assert.deepEqual(jobs[0].crossValidation, jobs[1].crossValidation);
  });
});
