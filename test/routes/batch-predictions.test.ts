import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Worker } from 'bullmq';
import { createBatchPredictionWorker } from '../../jobs/batch-prediction-worker';
import { linearCsv, startService, type TestService } from '../helpers/app';
import { idXorCsv, parseResults, waitForBatch } from '../helpers/batch-predictions';
import { trainStoredModel } from '../serving/stored-model';
import { assertClose } from '../helpers/tf';

/**
 * Batch prediction through the real app, a real Redis and a real batch worker (sandboxed
 * processor): results equal /v1 predict's row for row, ids or row indices, saved as a dataset,
 * queued by alias, cancelled while waiting, and the errors of a request that cannot run.
 */
describe('batch predictions', () => {
  let svc: TestService;
  let worker: Worker | undefined;
  let datasetId: string;
  let classifier: string;
  let regressor: string;
  let linearDatasetId: string;
  const CSV = idXorCsv(2_500);

  before(async () => {
    // Chunks of 1,024 rows (the smallest setting): 2,500 rows are 3 chunks, the last one short.
    // Overload refusals off (0): the test is not about them, and the shared machine's event loop
    // delay can pass the default second while tf starts.
    svc = await startService({
      worker: false,
      env: { DATASET_CHUNK_ROWS: '1024', RATE_LIMIT_MAX: '0', OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0' },
    });
    const upload = await svc.http.post('/v1/datasets').type('text/csv').send(CSV);
    assert.equal(upload.status, 201, upload.text);
    datasetId = upload.body.id;
    const linear = await svc.http.post('/v1/datasets').type('text/csv').send(linearCsv(1_500));
    linearDatasetId = linear.body.id;
    const model = await trainStoredModel(CSV, {
      target: 'label',
      task: 'classification',
      features: { drop: ['customer_id'] },
      model: { hidden: [{ units: 8, normalization: 'batch' }] },
      training: { epochs: 2, batchSize: 32, seed: 3 },
    });
    await svc.app.models.save(model.meta, model.frozen);
    classifier = model.meta.id;
    const linearModel = await trainStoredModel(linearCsv(1_500), {
      target: 'y',
      task: 'regression',
      training: { epochs: 2, seed: 3 },
    });
    await svc.app.models.save(linearModel.meta, linearModel.frozen);
    regressor = linearModel.meta.id;
  });
  after(async () => {
    await worker?.close();
    await svc.close();
  });

  test('a waiting batch: 409 for its results, cancelled by DELETE, then reads as cancelled', async () => {
    // No batch worker yet: the batch stays waiting.
    const queued = await svc.http.post('/v1/batch-predictions').send({ modelId: classifier, datasetId });
    assert.equal(queued.status, 202, queued.text);
    assert.equal(queued.body.state, 'waiting');
    const id = queued.body.batchId;
    const status = await svc.http.get(`/v1/batch-predictions/${id}`);
    assert.equal(status.body.state, 'waiting');
    assert.deepEqual(status.body.progress, { chunksDone: 0, chunks: 3, rowsDone: 0, rows: 2_500 });
    assert.deepEqual(status.body.idColumns, ['customer_id'], 'the id column is found by its name');
    const early = await svc.http.get(`/v1/batch-predictions/${id}/results.csv`);
    assert.equal(early.status, 409);
    assert.equal(early.body.error.code, 'BATCH_PREDICTION_NOT_COMPLETED');
    const cancel = await svc.http.delete(`/v1/batch-predictions/${id}`);
    assert.deepEqual(cancel.body, { batchId: id, state: 'cancelled' });
    assert.equal((await svc.http.get(`/v1/batch-predictions/${id}`)).body.state, 'cancelled');
    assert.equal((await svc.http.delete(`/v1/batch-predictions/${id}`)).status, 202);
    worker = createBatchPredictionWorker(svc.config);
    await worker.waitUntilReady();
  });

  test('classification: every row once, in order, with the probabilities /v1 predict gives', async () => {
    const queued = await svc.http.post('/v1/batch-predictions').send({ modelId: classifier, datasetId });
    const batch = await waitForBatch((url) => svc.http.get(url), queued.body.batchId);
    assert.equal(batch.state, 'completed', JSON.stringify(batch));
    assert.deepEqual(batch.progress, { chunksDone: 3, chunks: 3, rowsDone: 2_500, rows: 2_500 });
    const res = await svc.http.get(batch.resultsUrl as string);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/csv/);
    const { header, rows } = parseResults(res.text);
    assert.deepEqual(header, ['customer_id', 'prediction', 'probability_no', 'probability_yes']);
    assert.deepEqual(
      rows.map((r) => r[0]),
      Array.from({ length: 2_500 }, (_, i) => `c${i}`),
    );
    const source = CSV.trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split(','));
    const direct = await svc.http.post(`/v1/models/${classifier}/predict`).send({
      rows: source.map(([, a, b, color]) => ({ a: Math.fround(Number(a)), b: Math.fround(Number(b)), color })),
    });
    assert.equal(direct.status, 200, direct.text);
    rows.forEach((row, i) => {
      assert.equal(row[1], direct.body.predictions[i], `row ${i} prediction`);
      // To float32 rounding: the network sums in an order that depends on how many rows run
      // together (a 1,024-row chunk here, 2,500 rows in the direct request), as /v1 predict does.
      assertClose(row.slice(2).map(Number), direct.body.probabilities[i], 1e-6, `row ${i} probabilities`);
    });
  });

  test('regression by name@alias, rows identified by index, saved as a dataset', async () => {
    assert.equal((await svc.http.post('/v1/model-names/prices/versions').send({ modelId: regressor })).status, 201);
    assert.equal((await svc.http.put('/v1/model-names/prices/aliases/production').send({ version: 1 })).status, 200);
    const queued = await svc.http
      .post('/v1/batch-predictions')
      .send({ modelId: 'prices@production', datasetId: linearDatasetId, saveAsDataset: true });
    assert.equal(queued.status, 202, queued.text);
    assert.equal(queued.body.modelId, regressor);
    const batch = await waitForBatch((url) => svc.http.get(url), queued.body.batchId);
    assert.equal(batch.state, 'completed', JSON.stringify(batch));
    assert.equal(batch.modelRef, 'prices@production');
    const { header, rows } = parseResults((await svc.http.get(batch.resultsUrl as string)).text);
    assert.deepEqual(header, ['row', 'prediction']);
    assert.deepEqual(
      rows.map((r) => Number(r[0])),
      Array.from({ length: 1_500 }, (_, i) => i),
    );
    const source = linearCsv(1_500)
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((line) => line.split(',').map(Number));
    const direct = await svc.http
      .post(`/v1/models/${regressor}/predict`)
      .send({ inputs: source.map(([a, b]) => [Math.fround(a), Math.fround(b)]) });
    assertClose(
      rows.map((row) => Number(row[1])),
      direct.body.predictions,
      1e-5,
      'predictions',
    );

    const saved = await svc.http.get(`/v1/datasets/${batch.resultDatasetId as string}`);
    assert.equal(saved.status, 200, saved.text);
    assert.equal(saved.body.rows, 1_500);
    assert.deepEqual(
      saved.body.columns.map((c: { name: string }) => c.name),
      ['row', 'prediction'],
    );
  });

  test('a request that cannot run is refused at once', async () => {
    const post = (body: object) => svc.http.post('/v1/batch-predictions').send(body);
    assert.equal((await post({ modelId: 'mdl_missing', datasetId })).status, 404);
    assert.equal((await post({ modelId: 'nobody@production', datasetId })).status, 404);
    assert.equal((await post({ modelId: classifier, datasetId: 'ds_missing' })).status, 404);
    const mismatch = await post({ modelId: classifier, datasetId: linearDatasetId });
    assert.equal(mismatch.status, 400);
    assert.match(mismatch.body.error.message, /no column "color"/);
    const ids = await post({ modelId: classifier, datasetId, idColumns: ['nope'] });
    assert.equal(ids.status, 400);
    assert.match(ids.body.error.message, /idColumns/);
    assert.equal((await post({ modelId: classifier, datasetId, extra: 1 })).status, 400);
    assert.equal((await svc.http.get('/v1/batch-predictions/bp_missing')).status, 404);
    assert.equal((await svc.http.get('/v1/batch-predictions/bp_missing/results.csv')).status, 404);
    assert.equal((await svc.http.delete('/v1/batch-predictions/bp_missing')).status, 404);
  });
});
