import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, type TestService } from '../helpers/app';
import { overfitCsv } from '../helpers/overfit-data';

/**
 * POST /v1/searches validation, Idempotency-Key, GET and DELETE, against the real app and Redis
 * with no worker running, so the coordinator stays queued. Searches that run: test/search/.
 */
describe('searches: creating, reading, cancelling', () => {
  let svc: TestService;
  let datasetId: string;
  const body = (overrides: Record<string, unknown> = {}) => ({
    base: {
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 8 }] },
      training: { epochs: 3 },
    },
    space: {
      'training.learningRate': { type: 'loguniform', low: 1e-4, high: 1e-1 },
      'model.hidden.length': { type: 'int', low: 1, high: 3 },
    },
    strategy: 'random',
    budget: { maxTrials: 4, maxParallel: 2 },
    seed: 5,
    ...overrides,
  });

  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http
      .post('/v1/datasets')
      .set('content-type', 'text/csv')
      .send(overfitCsv({ rows: 40, noiseFeatures: 2 }));
    assert.equal(upload.status, 201);
    datasetId = upload.body.id;
  });
  after(async () => {
    await svc.close();
  });

  test('refused at submission: a bad path, a continuous grid, a space whose ends do not train, a missing dataset', async () => {
    const badPath = await svc.http
      .post('/v1/searches')
      .send(body({ space: { 'model..units': { type: 'int', low: 1, high: 2 } } }));
    assert.equal(badPath.status, 400);
    assert.match(badPath.body.error.message, /not a setting path/);
    const grid = await svc.http.post('/v1/searches').send(body({ strategy: 'grid' }));
    assert.equal(grid.status, 400);
    assert.equal(grid.body.error.code, 'INVALID_SEARCH');
    assert.match(grid.body.error.message, /training.learningRate" is loguniform; a grid takes choice, int or qint/);
    const ends = await svc.http
      .post('/v1/searches')
      .send(body({ space: { 'training.learningRate': { type: 'uniform', low: 0, high: 0.1 } } }));
    assert.equal(ends.status, 400);
    assert.match(ends.body.error.message, /learningRate/);
    const reversed = await svc.http
      .post('/v1/searches')
      .send(body({ space: { 'regularization.l2': { type: 'uniform', low: 1, high: 0 } } }));
    assert.equal(reversed.status, 400);
    assert.match(reversed.body.error.message, /low must be below high/);
    const objective = await svc.http.post('/v1/searches').send(body({ objective: { metric: 'valMae' } }));
    assert.equal(objective.status, 400);
    assert.match(objective.body.error.message, /valMae needs a regression task/);
    const noValidation = await svc.http
      .post('/v1/searches')
      .send({ ...body(), base: { ...body().base, training: { epochs: 3, validationSplit: 0 } } });
    assert.equal(noValidation.status, 400);
    assert.match(noValidation.body.error.message, /validationSplit is 0/);
    const missing = await svc.http
      .post('/v1/searches')
      .send({ ...body(), base: { ...body().base, datasetId: 'ds_missing' } });
    assert.equal(missing.status, 404);
  });

  test('Idempotency-Key: the same request gives the same search once; another body with the key is a 422', async () => {
    const first = await svc.http.post('/v1/searches').set('idempotency-key', 'search-key-1').send(body());
    assert.equal(first.status, 202, first.text);
    const again = await svc.http.post('/v1/searches').set('idempotency-key', 'search-key-1').send(body());
    assert.equal(again.status, 202);
    assert.equal(again.body.searchId, first.body.searchId);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    const other = await svc.http
      .post('/v1/searches')
      .set('idempotency-key', 'search-key-1')
      .send(body({ seed: 6 }));
    assert.equal(other.status, 422);
    const fresh = await svc.http.post('/v1/searches').send(body());
    assert.notEqual(fresh.body.searchId, first.body.searchId);
    // One coordinator job per search, under the search's id.
    const coordinators = (await svc.app.redis.keys(`${svc.config.redisPrefix}:searches:*`)).filter((k) =>
      /:searches:[0-9a-f-]{36}$/.test(k),
    );
    assert.deepEqual(
      coordinators.sort(),
      [first.body.searchId, fresh.body.searchId].map((id) => `${svc.config.redisPrefix}:searches:${id}`).sort(),
    );
  });

  test('GET while the coordinator waits; DELETE reads cancelled; an unknown id is a 404', async () => {
    const created = await svc.http.post('/v1/searches').send(body({ pruner: { type: 'asha' } }));
    const id = created.body.searchId;
    const view = await svc.http.get(`/v1/searches/${id}`);
    assert.equal(view.status, 200);
    assert.equal(view.body.state, 'running');
    assert.equal(view.body.strategy, 'random');
    assert.deepEqual(view.body.objective, { metric: 'valLoss', direction: 'minimize' });
    assert.deepEqual(view.body.pruner, { type: 'asha', gracePeriod: 1, reductionFactor: 3 });
    assert.equal(view.body.seed, 5);
    assert.deepEqual(view.body.trials, []);
    const cancel = await svc.http.delete(`/v1/searches/${id}`);
    assert.deepEqual([cancel.status, cancel.body], [202, { searchId: id, state: 'cancelled' }]);
    assert.equal((await svc.http.get(`/v1/searches/${id}`)).body.state, 'cancelled');
    // Its event stream: the progress, then the end with the whole search, then it closes.
    const events = await svc.http
      .get(`/v1/searches/${id}/events`)
      .buffer(true)
      .parse((res, done) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk));
        res.on('end', () => done(null, text));
      });
    assert.equal(events.status, 200);
    assert.match(events.headers['content-type'], /^text\/event-stream/);
    const text = events.body as string;
    assert.match(text, /^event: progress\ndata: \{"state":"cancelled"/);
    assert.match(text, /id: end\nevent: end\ndata: \{"searchId":"[^"]+","state":"cancelled"/);
    assert.equal((await svc.http.get('/v1/searches/nope/events')).status, 404);
    assert.equal((await svc.http.get('/v1/searches/nope')).status, 404);
    assert.equal((await svc.http.delete('/v1/searches/nope')).status, 404);
  });
});
