import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { enqueueBatchPrediction } from '../../jobs/batch-prediction-queue';
import { startService, type TestService } from '../helpers/app';

/** POST /v1/datasets over HTTP: delimiters, TSV, gzip, NDJSON; listing and deleting. */
describe('dataset routes', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ worker: false, env: { DATASET_CHUNK_ROWS: '1024' } });
  });
  after(() => svc.close());

  const names = (body: { columns: { name: string }[] }) => body.columns.map((c) => c.name);

  test('a semicolon CSV has its columns (it used to be one column named "a;b;label")', async () => {
    const res = await svc.http.post('/v1/datasets').type('text/csv').send('a;b;label\n1;2;x\n3;4;y\n');
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(names(res.body), ['a', 'b', 'label']);
    assert.match(res.body.contentHash, /^sha256:/);
  });

  test('text/tab-separated-values, ?delimiter=, and a bad delimiter name', async () => {
    const tsv = await svc.http.post('/v1/datasets').type('text/tab-separated-values').send('a\tb,c\n1\t2\n3\t4\n');
    assert.equal(tsv.status, 201, tsv.text);
    assert.deepEqual(names(tsv.body), ['a', 'b,c']);
    const piped = await svc.http.post('/v1/datasets?delimiter=pipe').type('text/csv').send('a,b|c\n1|2\n3|4\n');
    assert.deepEqual(names(piped.body), ['a,b', 'c']);
    const bad = await svc.http.post('/v1/datasets?delimiter=colon').type('text/csv').send('a:b\n1:2\n3:4\n');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /delimiter/);
  });

  test('Content-Encoding: gzip is read; other encodings are a 415', async () => {
    const text = 'x,y\n' + Array.from({ length: 3000 }, (_, i) => `${i},${i % 3 === 0 ? 'a' : 'b'}`).join('\n');
    const zipped = await svc.http
      .post('/v1/datasets')
      .type('text/csv')
      .set('content-encoding', 'gzip')
      .send(gzipSync(text));
    assert.equal(zipped.status, 201, zipped.text);
    assert.equal(zipped.body.rows, 3000);
    const plain = await svc.http.post('/v1/datasets').type('text/csv').send(text);
    assert.equal(plain.body.contentHash, zipped.body.contentHash, 'the same data, the same hash');
    const schema = await svc.http.get(`/v1/datasets/${zipped.body.id}/schema`);
    assert.deepEqual(schema.body.columns[1], { name: 'y', type: 'categorical', missing: 0, categories: ['a', 'b'] });
    const brotli = await svc.http.post('/v1/datasets').type('text/csv').set('content-encoding', 'br').send('a\n1\n2\n');
    assert.equal(brotli.status, 415);
    assert.match(brotli.body.error.message, /content encoding "br"/);
    const broken = await svc.http
      .post('/v1/datasets')
      .type('text/csv')
      .set('content-encoding', 'gzip')
      .send('a\n1\n2\n');
    assert.equal(broken.status, 400);
    assert.match(broken.body.error.message, /not valid gzip/);
  });

  test('NDJSON rows', async () => {
    const res = await svc.http
      .post('/v1/datasets')
      .type('application/x-ndjson')
      .send('{"a":1,"b":"x"}\n{"a":2.5,"b":null}\n');
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.body.columns, [
      { name: 'a', type: 'numeric' },
      { name: 'b', type: 'categorical' },
    ]);
    const bad = await svc.http.post('/v1/datasets').type('application/x-ndjson').send('{"a":1}\nnope\n');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^line 2 is not valid JSON/);
  });

  test('listing pages newest first; delete removes the dataset and its chunks', async () => {
    const first = await svc.http
      .post('/v1/datasets')
      .type('text/csv')
      .send('a\n' + '1\n'.repeat(2500));
    const second = await svc.http.post('/v1/datasets').send({ rows: [{ a: 1 }, { a: 2 }] });
    const page = await svc.http.get('/v1/datasets?limit=2');
    assert.equal(page.status, 200);
    assert.deepEqual(
      page.body.datasets.map((d: { id: string }) => d.id),
      [second.body.id, first.body.id],
    );
    const total = page.body.total as number;
    assert.ok(total >= 2);
    const next = await svc.http.get('/v1/datasets?limit=2&offset=1');
    assert.equal(next.body.datasets[0].id, first.body.id);

    const redis = svc.app.redis;
    const chunkKeys = () => redis.keys(`${svc.config.redisPrefix}:dataset:${first.body.id}:chunk:*`);
    assert.equal((await chunkKeys()).length, 3, '2500 rows in chunks of 1024');
    assert.equal((await svc.http.delete(`/v1/datasets/${first.body.id}`)).status, 204);
    assert.deepEqual(await chunkKeys(), []);
    assert.equal((await svc.http.get(`/v1/datasets/${first.body.id}`)).status, 404);
    assert.equal((await svc.http.get('/v1/datasets')).body.total, total - 1);
  });

  test('DELETE is refused with 409 while a waiting job trains on the dataset', async () => {
    const upload = await svc.http.post('/v1/datasets').type('text/csv').send('a,b\n1,2\n3,4\n5,6\n');
    const job = await svc.http
      .post('/v1/training-jobs')
      .send({ datasetId: upload.body.id, target: 'b', task: 'regression' });
    assert.equal(job.status, 202, job.text);
    const refused = await svc.http.delete(`/v1/datasets/${upload.body.id}`);
    assert.equal(refused.status, 409);
    assert.match(refused.body.error.message, new RegExp(`used by training job "${job.body.jobId}"`));
    assert.equal((await svc.http.delete(`/v1/training-jobs/${job.body.jobId}`)).status, 202);
    assert.equal((await svc.http.delete(`/v1/datasets/${upload.body.id}`)).status, 204, 'once the job is cancelled');
  });

  test('DELETE is refused with 409 while a waiting batch prediction reads the dataset', async () => {
    const upload = await svc.http.post('/v1/datasets').type('text/csv').send('a,b\n1,2\n3,4\n5,6\n');
    // Queued as POST /v1/batch-predictions queues it (its checks need a model; no worker runs
    // here, so the batch stays waiting in the real queue).
    const batchId = await enqueueBatchPrediction(svc.app.batchPredictionQueue, {
      modelRef: 'm_none',
      modelId: 'm_none',
      datasetId: upload.body.id,
      idColumns: [],
      saveAsDataset: false,
      rows: 3,
      chunks: 1,
      chunkRows: 1024,
      createdAt: new Date().toISOString(),
    });
    const refused = await svc.http.delete(`/v1/datasets/${upload.body.id}`);
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.body.error.code, 'DATASET_IN_USE');
    assert.match(refused.body.error.message, new RegExp(`used by batch prediction "${batchId}"`));
    assert.equal((await svc.http.get(`/v1/datasets/${upload.body.id}`)).status, 200, 'the dataset is still there');
    assert.equal((await svc.http.delete(`/v1/batch-predictions/${batchId}`)).status, 202);
    assert.equal((await svc.http.delete(`/v1/datasets/${upload.body.id}`)).status, 204, 'once the batch is cancelled');
  });
});
