import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Rng } from '../../src/random';
import { startService, type TestService } from '../helpers/app';

/**
 * Warnings at submission (README): a classification target that looks continuous, and classes
 * too small for the validation or test split, are reported in the 202 body of POST
 * /v1/training-jobs and POST /v1/sweeps and again in the job's result; more classes than the
 * service trains is a 400. The real app, Redis and (for the one job that runs) a real worker.
 */

/** x0, x1 and a numeric target y = round(100·(x0 + x1)) + 200: about 100 distinct integers in `rows`. */
function continuousCsv(rows: number): string {
  const rng = new Rng(11);
  const lines = ['x0,x1,y'];
  for (let i = 0; i < rows; i++) {
    const x0 = rng.next();
    const x1 = rng.next();
    lines.push(`${x0.toFixed(4)},${x1.toFixed(4)},${Math.round(100 * (x0 + x1)) + 200}`);
  }
  return lines.join('\n') + '\n';
}

/** Classes "a" and "b" with `big` rows each, and "rare" with `rare` rows. */
function rareClassCsv(big: number, rare: number): string {
  const rng = new Rng(5);
  const lines = ['x,label'];
  const add = (label: string, n: number) => {
    for (let i = 0; i < n; i++) lines.push(`${rng.next().toFixed(4)},${label}`);
  };
  add('a', big);
  add('b', big);
  add('rare', rare);
  return lines.join('\n') + '\n';
}

describe('warnings at submission: the target', () => {
  let svc: TestService;
  const upload = async (csv: string): Promise<string> => {
    const res = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(csv);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.id;
  };
  const request = (datasetId: string, target: string, task: string, training: Record<string, unknown> = {}) => ({
    datasetId,
    target,
    task,
    model: { hidden: [{ units: 8 }] },
    training: { epochs: 2, seed: 1, ...training },
  });

  before(async () => {
    svc = await startService();
  });
  after(async () => {
    await svc.close();
  });

  test('a continuous-looking classification target: a warning in the 202 and in the job result; a wrong-task diagnosis', async () => {
    const datasetId = await upload(continuousCsv(300));
    const queued = await svc.http.post('/v1/training-jobs').send(request(datasetId, 'y', 'classification'));
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    assert.equal(queued.body.warnings.length, 1, JSON.stringify(queued.body.warnings));
    assert.match(
      queued.body.warnings[0],
      /^target "y" looks continuous for task "classification": \d+ distinct numeric values in 300 rows\..*use task "regression"/,
    );

    await svc.waitForJob(queued.body.jobId);
    const job = (await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body;
    assert.equal(job.state, 'completed');
    assert.ok(job.warnings.includes(queued.body.warnings[0]), 'the job result repeats the warning');
    assert.equal(job.diagnosis.verdict, 'wrong-task');
    assert.match(job.diagnosis.suggestions[0], /^Use task "regression"/);

    // The same column as a regression target is fine.
    const regression = await svc.http
      .post('/v1/training-jobs')
      .send(request(datasetId, 'y', 'regression', { epochs: 1 }));
    assert.equal(regression.status, 202);
    assert.equal(regression.body.warnings, undefined);
    await svc.waitForJob(regression.body.jobId);
  });

  test('a class too small for the validation split is named; a larger split or class clears the warning', async () => {
    const datasetId = await upload(rareClassCsv(40, 2));
    // round(2 · 0.2) = 0 rows of "rare" held out.
    const small = await svc.http.post('/v1/training-jobs').send(request(datasetId, 'label', 'classification'));
    assert.equal(small.status, 202);
    assert.equal(small.body.warnings.length, 1);
    assert.match(
      small.body.warnings[0],
      /^target "label": 1 of 3 classes are too small for training\.validationSplit 0\.2 to hold out any of their rows \("rare" with 2 rows\)/,
    );
    // round(2 · 0.3) = 1: held out.
    const larger = await svc.http
      .post('/v1/training-jobs')
      .send(request(datasetId, 'label', 'classification', { validationSplit: 0.3 }));
    assert.equal(larger.status, 202);
    assert.equal(larger.body.warnings, undefined);
    // A test split takes its share first: round(3 · 0.1) = 0 test rows for a class of 3.
    const withTest = await svc.http
      .post('/v1/training-jobs')
      .send(
        request(await upload(rareClassCsv(40, 3)), 'label', 'classification', { validationSplit: 0.4, testSplit: 0.1 }),
      );
    assert.equal(withTest.status, 202);
    assert.deepEqual(withTest.body.warnings.length, 1, JSON.stringify(withTest.body.warnings));
    assert.match(withTest.body.warnings[0], /too small for training\.testSplit 0\.1 .*\("rare" with 3 rows\)/);
  });

  test('a replay with the same Idempotency-Key answers with the same warnings', async () => {
    const datasetId = await upload(rareClassCsv(20, 1));
    const body = request(datasetId, 'label', 'classification');
    const first = await svc.http.post('/v1/training-jobs').set('idempotency-key', 'warn-1').send(body);
    const again = await svc.http.post('/v1/training-jobs').set('idempotency-key', 'warn-1').send(body);
    assert.equal(first.status, 202);
    assert.equal(again.status, 202);
    assert.equal(again.body.jobId, first.body.jobId);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.body.warnings, first.body.warnings);
    assert.match(first.body.warnings[0], /"rare" with 1 row\)/);
  });

  test('a dataset stored before column profiles: the profile is computed from the table, and kept', async () => {
    const datasetId = await upload(rareClassCsv(40, 2));
    const key = `${svc.config.redisPrefix}:dataset:${datasetId}`;
    assert.equal(await svc.app.redis.hdel(key, 'profile:label'), 1, 'the profile was stored at upload');
    const res = await svc.http.post('/v1/training-jobs').send(request(datasetId, 'label', 'classification'));
    assert.equal(res.status, 202);
    assert.match(res.body.warnings[0], /"rare" with 2 rows/);
    assert.equal(await svc.app.redis.hexists(key, 'profile:label'), 1);
  });

  test('more than 4096 classes is a 400 at submission', async () => {
    const lines = ['x,id'];
    for (let i = 0; i < 4200; i++) lines.push(`${i % 7},${i}`);
    const datasetId = await upload(lines.join('\n') + '\n');
    const res = await svc.http.post('/v1/training-jobs').send(request(datasetId, 'id', 'classification'));
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_TRAINING_REQUEST');
    assert.match(
      res.body.error.message,
      /at most 4096 classes, but target "id" has more distinct values; for a numeric quantity use task "regression"/,
    );
  });

  test('a sweep reports each warning once, with the first combination that has it', async () => {
    const datasetId = await upload(continuousCsv(300));
    const res = await svc.http.post('/v1/sweeps').send({
      base: request(datasetId, 'y', 'classification'),
      grid: { task: ['regression', 'classification'], 'regularization.l2': [0, 0.01] },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.warnings.length, 1, JSON.stringify(res.body.warnings));
    assert.match(
      res.body.warnings[0],
      /^grid combination \d+ \{.*"task":"classification".*\}: target "y" looks continuous/,
    );
  });
});
