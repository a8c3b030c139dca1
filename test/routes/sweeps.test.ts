import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, type TestService } from '../helpers/app';
import { overfitCsv } from '../helpers/overfit-data';

/**
 * POST /v1/sweeps validation and GET progress, against the real app and Redis with no worker
 * running, so the runs stay queued. Running sweeps end to end: test/e2e/overfitting.test.ts.
 */
describe('sweeps: creating and reading', () => {
  let svc: TestService;
  let datasetId: string;
  const base = () => ({
    datasetId,
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units: 16 }, { units: 16 }] },
    training: { epochs: 5, seed: 3 },
  });

  before(async () => {
    svc = await startService({ worker: false, env: { SWEEP_MAX_COMBINATIONS: '8' } });
    const upload = await svc.http
      .post('/v1/datasets')
      .set('content-type', 'text/csv')
      .send(overfitCsv({ rows: 30, noiseFeatures: 3 }));
    assert.equal(upload.status, 201);
    datasetId = upload.body.id;
  });
  after(async () => {
    await svc.close();
  });

  test('one training job per combination, children of a parent; progress while they wait', async () => {
    const res = await svc.http.post('/v1/sweeps').send({
      base: base(),
      grid: {
        'regularization.l2': [0, 1e-3],
        'model.hidden.*.dropout': [0, 0.3],
        'model.hidden.*.normalization': ['none', 'batch'],
      },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.state, 'running');
    assert.equal(res.body.runs.length, 8);
    // Grid order: the first key varies slowest, the last fastest.
    assert.deepEqual(res.body.runs[0].settings, {
      'regularization.l2': 0,
      'model.hidden.*.dropout': 0,
      'model.hidden.*.normalization': 'none',
    });
    assert.deepEqual(res.body.runs[1].settings, {
      'regularization.l2': 0,
      'model.hidden.*.dropout': 0,
      'model.hidden.*.normalization': 'batch',
    });
    assert.deepEqual(res.body.runs[7].settings, {
      'regularization.l2': 1e-3,
      'model.hidden.*.dropout': 0.3,
      'model.hidden.*.normalization': 'batch',
    });

    // Each run is an ordinary training job with the combination applied (shorthands normalized)
    // and the sweep's one seed.
    const run = await svc.app.trainingQueue.getJob(res.body.runs[7].jobId);
    assert.ok(run, 'the child is in the training queue');
    assert.equal(run.data.seed, 3);
    assert.equal(run.data.request.regularization.l2, 1e-3);
    for (const layer of run.data.request.model.hidden) {
      assert.deepEqual(layer.dropout, { rate: 0.3, kind: 'inverted' });
      assert.equal(layer.normalization.type, 'batch');
    }
    assert.equal(run.parentKey, `${svc.config.redisPrefix}:sweeps:${res.body.sweepId}`);
    const job = await svc.http.get(`/v1/training-jobs/${res.body.runs[0].jobId}`);
    assert.equal(job.status, 200);
    assert.equal(job.body.state, 'waiting');

    const view = await svc.http.get(`/v1/sweeps/${res.body.sweepId}`);
    assert.equal(view.status, 200, JSON.stringify(view.body));
    assert.equal(view.body.state, 'running');
    assert.deepEqual(view.body.progress, { total: 8, completed: 0, failed: 0, active: 0, waiting: 8 });
    assert.equal(view.body.table, undefined, 'no table before the sweep is done');
    assert.equal(view.body.runs.length, 8);

    const svg = await svc.http.get(`/v1/sweeps/${res.body.sweepId}/curves.svg`).buffer(true);
    assert.equal(svg.status, 200);
    assert.match(svg.headers['content-type'], /^image\/svg\+xml/);
    assert.ok(String(svg.body).includes('No run has finished an epoch yet'));
  });

  test('null removes a field; a missing object on the path is created with its defaults', async () => {
    const res = await svc.http.post('/v1/sweeps').send({
      base: { ...base(), training: { epochs: 5, seed: 3, earlyStopping: { patience: 2 } } },
      grid: { 'training.earlyStopping': [null, { patience: 1 }], 'model.hidden.1.units': [4] },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const [off, on] = await Promise.all(
      res.body.runs.map((r: { jobId: string }) => svc.app.trainingQueue.getJob(r.jobId)),
    );
    assert.equal(off!.data.request.training.earlyStopping, undefined);
    assert.deepEqual(on!.data.request.training.earlyStopping, {
      monitor: 'valLoss',
      patience: 1,
      minDelta: 0,
      restoreBestWeights: true,
    });
    assert.equal(on!.data.request.model.hidden[1].units, 4);
    assert.equal(on!.data.request.model.hidden[0].units, 16);

    const created = await svc.http
      .post('/v1/sweeps')
      .send({ base: base(), grid: { 'training.earlyStopping.patience': [3] } });
    assert.equal(created.status, 202, JSON.stringify(created.body));
    const child = await svc.app.trainingQueue.getJob(created.body.runs[0].jobId);
    assert.equal(child!.data.request.training.earlyStopping?.patience, 3);
  });

  test('400 above the cap, naming the count and the variable', async () => {
    const res = await svc.http.post('/v1/sweeps').send({
      base: base(),
      grid: { 'regularization.l2': [0, 1e-4, 1e-3], 'model.hidden.*.dropout': [0, 0.3, 0.5] },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_SWEEP');
    assert.match(
      res.body.error.message,
      /3 × 3 = 9 combinations; a sweep may have at most 8 \(SWEEP_MAX_COMBINATIONS\)/,
    );
  });

  test('400 naming the combination and the field when one is not a valid training request', async () => {
    const res = await svc.http.post('/v1/sweeps').send({
      base: base(),
      grid: { 'regularization.l2': [0, 1e-3], 'model.hidden.*.dropout': [0, 1] },
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_SWEEP');
    assert.match(
      res.body.error.message,
      /^grid combination 2 \{"regularization\.l2":0,"model\.hidden\.\*\.dropout":1\} is not a valid training request: model\.hidden\[0\]\.dropout: /,
    );
    assert.match(res.body.error.message, /a rate of 1 would drop every unit/);

    const unknown = await svc.http.post('/v1/sweeps').send({ base: base(), grid: { 'regularization.l3': [0.1] } });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /grid combination 1 .*regularization: .*l3/);
  });

  test('400 for paths that do not fit the request, bad keys, empty grids and a bad base', async () => {
    const cases: [unknown, RegExp][] = [
      [
        { 'model.hidden.5.units': [8] },
        /"model\.hidden\.5\.units": model\.hidden has 2 elements, so there is no element 5/,
      ],
      [{ 'regularization.*': [0] }, /"regularization\.\*": regularization is not a list/],
      [{ 'model.hidden.units': [8] }, /"model\.hidden\.units": model\.hidden is a list; use an index or "\*"/],
      [{ 'training..epochs': [3] }, /grid key "training\.\.epochs" is not a setting path/],
      [{ 'training.epochs': [] }, /each grid entry needs at least one value/],
      [{}, /give at least one setting to vary/],
    ];
    for (const [grid, message] of cases) {
      const res = await svc.http.post('/v1/sweeps').send({ base: base(), grid });
      assert.equal(res.status, 400, JSON.stringify(grid));
      assert.match(res.body.error.message, message, JSON.stringify(grid));
    }
    const badBase = await svc.http
      .post('/v1/sweeps')
      .send({ base: { ...base(), task: 'clustering' }, grid: { 'regularization.l2': [0] } });
    assert.equal(badBase.status, 400);
    assert.match(badBase.body.error.message, /^base\.task/);
  });

  test('dataset checks run for every combination: a grid over the target names the bad one', async () => {
    const res = await svc.http.post('/v1/sweeps').send({ base: base(), grid: { target: ['label', 'nope'] } });
    assert.equal(res.status, 400);
    assert.match(
      res.body.error.message,
      /^grid combination 2 \{"target":"nope"\}: target: dataset .* has no column "nope"/,
    );
    const missing = await svc.http
      .post('/v1/sweeps')
      .send({ base: { ...base(), datasetId: 'ds_missing' }, grid: { 'regularization.l2': [0] } });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'DATASET_NOT_FOUND');
  });

  test('an unknown sweep is a 404', async () => {
    for (const path of ['', '/curves.svg']) {
      const res = await svc.http.get(`/v1/sweeps/nope${path}`);
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'SWEEP_NOT_FOUND');
    }
  });
});
