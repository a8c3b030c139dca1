import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

/** Bad input is a 4xx with {error:{code,message}} naming the field and the reason; never a 500. */
describe('errors', () => {
  let svc: TestService;
  let datasetId: string;
  let modelId: string;

  before(async () => {
    svc = await startService();
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    datasetId = upload.body.id;
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      training: { epochs: 2, seed: 1 },
    });
    await svc.waitForJob(queued.body.jobId);
    modelId = (await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body.modelId;
  });
  after(async () => {
    await svc.close();
  });

  const base = () => ({ datasetId, target: 'label', task: 'classification' });

  async function expectError(
    res: { status: number; body: { error?: { code: string; message: string } } },
    status: number,
    code: string,
    message: RegExp,
  ) {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error?.code, code, JSON.stringify(res.body));
    assert.match(res.body.error.message, message);
  }

  test('unknown normalization names the field and the allowed values', async () => {
    const res = await svc.http.post('/v1/training-jobs').send({
      ...base(),
      model: { hidden: [{ units: 4, normalization: 'group' }] },
    });
    await expectError(
      res,
      400,
      'VALIDATION',
      /model\.hidden\[0\]\.normalization: Expected one of none, batch, layer, weight, cosine, sync-batch, ghost-batch, received "group"/,
    );
  });

  test('dropout rate outside [0, 1)', async () => {
    for (const dropout of [1, -0.1, 1.5, { rate: 1 }]) {
      const res = await svc.http
        .post('/v1/training-jobs')
        .send({ ...base(), model: { hidden: [{ units: 4, dropout }] } });
      await expectError(
        res,
        400,
        'VALIDATION',
        /model\.hidden\[0\]\.dropout(\.rate)?: dropout(\.rate)? must be in \[0, 1\)/,
      );
    }
  });

  test('negative penalties', async () => {
    const res = await svc.http.post('/v1/training-jobs').send({ ...base(), regularization: { l2: -0.1 } });
    await expectError(res, 400, 'VALIDATION', /regularization\.l2: .*>= 0/);
    const l1 = await svc.http.post('/v1/training-jobs').send({ ...base(), regularization: { l1: -1 } });
    await expectError(l1, 400, 'VALIDATION', /regularization\.l1/);
  });

  test('L0 is refused as NP-hard and points to L1', async () => {
    const res = await svc.http.post('/v1/training-jobs').send({ ...base(), regularization: { l0: 0.01 } });
    await expectError(res, 400, 'VALIDATION', /NP-hard.*regularization\.l1/);
  });

  test('missing required fields, unknown fields, wrong task', async () => {
    await expectError(await svc.http.post('/v1/training-jobs').send({ datasetId }), 400, 'VALIDATION', /target/);
    await expectError(
      await svc.http.post('/v1/training-jobs').send({ ...base(), epochs: 3 }),
      400,
      'VALIDATION',
      /epochs/,
    );
    await expectError(
      await svc.http.post('/v1/training-jobs').send({ ...base(), task: 'clustering' }),
      400,
      'VALIDATION',
      /task/,
    );
  });

  test('target column that does not exist, and regression on a categorical target', async () => {
    await expectError(
      await svc.http.post('/v1/training-jobs').send({ ...base(), target: 'nope' }),
      400,
      'INVALID_TRAINING_REQUEST',
      /no column "nope"; its columns are "a", "b", "color", "label"/,
    );
    await expectError(
      await svc.http.post('/v1/training-jobs').send({ ...base(), task: 'regression' }),
      400,
      'INVALID_TRAINING_REQUEST',
      /regression needs a numeric target/,
    );
  });

  test('404 for unknown dataset, job, model and route', async () => {
    await expectError(
      await svc.http.post('/v1/training-jobs').send({ ...base(), datasetId: 'ds_missing' }),
      404,
      'DATASET_NOT_FOUND',
      /ds_missing/,
    );
    await expectError(await svc.http.get('/v1/datasets/ds_missing'), 404, 'DATASET_NOT_FOUND', /ds_missing/);
    await expectError(await svc.http.get('/v1/training-jobs/nope'), 404, 'JOB_NOT_FOUND', /nope/);
    await expectError(await svc.http.get('/v1/models/mdl_nope'), 404, 'MODEL_NOT_FOUND', /mdl_nope/);
    await expectError(
      await svc.http.post('/v1/models/mdl_nope/predict').send({ inputs: [[1, 2, 'red']] }),
      404,
      'MODEL_NOT_FOUND',
      /mdl_nope/,
    );
    // Under /v2 (the Open Inference Protocol) the error body is the protocol's: a message, no code.
    const v2 = await svc.http.get('/v2/nothing');
    assert.equal(v2.status, 404);
    assert.match(v2.body.error, /no route GET \/v2\/nothing/);
  });

  test('predict: a row missing a feature, a non-numeric value, a wrong vector length', async () => {
    const url = `/v1/models/${modelId}/predict`;
    await expectError(
      await svc.http.post(url).send({
        rows: [
          { a: 1, b: 2, color: 'red' },
          { a: 1, color: 'red' },
        ],
      }),
      400,
      'INVALID_PREDICT_INPUT',
      /row 1 is missing feature "b"/,
    );
    await expectError(
      await svc.http.post(url).send({ rows: [{ a: 'high', b: 2, color: 'red' }] }),
      400,
      'INVALID_PREDICT_INPUT',
      /row 0 feature "a" must be a finite number/,
    );
    await expectError(
      await svc.http.post(url).send({ inputs: [[1, 2]] }),
      400,
      'INVALID_PREDICT_INPUT',
      /row 0 has 2 values; expected 3/,
    );
    await expectError(await svc.http.post(url).send({}), 400, 'VALIDATION', /exactly one of "rows"/);
    await expectError(
      await svc.http.post(url).send({ rows: [], inputs: [] }),
      400,
      'VALIDATION',
      /exactly one of "rows"/,
    );
  });

  test('datasets: ragged CSV, duplicate columns, junk JSON, wrong content type, bad JSON', async () => {
    await expectError(
      await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send('a,b\n1,2\n3\n'),
      400,
      'INVALID_DATASET',
      /line 3/,
    );
    await expectError(
      await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send('a,a\n1,2\n3,4\n'),
      400,
      'INVALID_DATASET',
      /"a"/,
    );
    await expectError(
      await svc.http.post('/v1/datasets').send({ rows: [{ a: 1 }, { a: { nested: true } }] }),
      400,
      'INVALID_DATASET',
      /row 1/,
    );
    await expectError(await svc.http.post('/v1/datasets').send({ rows: 'x' }), 400, 'VALIDATION', /rows/);
    const xml = await svc.http.post('/v1/datasets').set('content-type', 'application/xml').send('<a/>');
    assert.equal(xml.status, 415);
    assert.equal(xml.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    const broken = await svc.http.post('/v1/datasets').set('content-type', 'application/json').send('{"rows":[');
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error.code, 'VALIDATION');
  });

  test('a body of a type the route does not take is a 415 naming the accepted types', async () => {
    // text/plain to a JSON route: a 415 (as documented), not a 400 from the schema.
    const plain = await svc.http
      .post('/v1/training-jobs')
      .set('content-type', 'text/plain')
      .send(JSON.stringify(base()));
    await expectError(
      plain,
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /"text\/plain" is not accepted by POST \/v1\/training-jobs; send "application\/json"$/,
    );
    const predict = await svc.http
      .post(`/v1/models/${modelId}/predict`)
      .set('content-type', 'text/csv')
      .send('a,b\n1,2\n');
    await expectError(predict, 415, 'UNSUPPORTED_MEDIA_TYPE', /send "application\/json"$/);
    // Uploads take CSV too, and the message says so.
    const xml = await svc.http.post('/v1/datasets').set('content-type', 'application/xml').send('<a/>');
    await expectError(
      xml,
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      /"application\/xml" is not accepted by POST \/v1\/datasets; send "application\/json" or "text\/csv" or "application\/csv" or "text\/plain"$/,
    );
  });

  test('ids up to 128 characters are ids (404 when unknown); longer ones are a 414', async () => {
    for (const length of [101, 128]) {
      await expectError(
        await svc.http.get(`/v1/datasets/${'d'.repeat(length)}`),
        404,
        'DATASET_NOT_FOUND',
        /does not exist/,
      );
      await expectError(
        await svc.http.get(`/v1/models/${'m'.repeat(length)}`),
        404,
        'MODEL_NOT_FOUND',
        /does not exist/,
      );
    }
    await expectError(
      await svc.http.get(`/v1/datasets/${'d'.repeat(129)}`),
      414,
      'URI_TOO_LONG',
      /at most 128 characters/,
    );
  });

  test('request body over the limit is a 413', async () => {
    const big = await svc.http.post('/v1/training-jobs').send({ ...base(), pad: 'x'.repeat(1.1 * (1 << 20)) });
    assert.equal(big.status, 413);
    assert.equal(big.body.error.code, 'PAYLOAD_TOO_LARGE');
  });

  test('more rows than MAX_PREDICT_ROWS is a 400 naming the setting (the body limit follows the rows)', async () => {
    const many = await svc.http
      .post(`/v1/models/${modelId}/predict`)
      .send({ inputs: Array.from({ length: 10_001 }, () => [1.2345, 2.3456, 'red']) });
    await expectError(
      many,
      400,
      'INVALID_PREDICT_INPUT',
      /inputs has 10001 rows; the limit is 10000 per request \(the server's MAX_PREDICT_ROWS setting\)/,
    );
  });
});
