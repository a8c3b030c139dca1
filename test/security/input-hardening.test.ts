import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * Hostile and broken input, route by route: each gets a 4xx whose message says what is wrong,
 * and nothing reaches Object.prototype. (The fuzz test sends thousands of generated variants.)
 */
describe('input hardening', () => {
  let svc: TestService;
  let datasetId: string;
  let modelId: string;

  before(async () => {
    svc = await startService({
      env: { MAX_DATASET_ROWS: '50', MAX_DATASET_COLUMNS: '6', MAX_PREDICT_ROWS: '5' },
    });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(40));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    datasetId = upload.body.id;
    const queued = await svc.http
      .post('/v1/training-jobs')
      .send({ datasetId, target: 'label', task: 'classification', training: { epochs: 1, seed: 1 } });
    await svc.waitForJob(queued.body.jobId, 60_000);
    modelId = (await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body.modelId;
    assert.ok(modelId);
  });
  after(async () => {
    await svc.close();
  });

  type Case = [
    name: string,
    method: 'post' | 'get',
    url: () => string,
    contentType: string,
    body: string,
    status: number,
    message: RegExp,
  ];
  const json = 'application/json';
  const csv = 'text/csv';
  const training = (extra: string) => `{"datasetId":"${datasetId}","target":"label","task":"classification"${extra}}`;
  const predictUrl = () => `/v1/models/${modelId}/predict`;
  const cases: Case[] = [
    // Datasets, CSV
    [
      'CSV with a ragged row',
      'post',
      () => '/v1/datasets',
      csv,
      'a,b\n1,2\n3\n4,5\n',
      400,
      /line 3 has 1 fields but the header has 2/,
    ],
    [
      'CSV with a duplicate column',
      'post',
      () => '/v1/datasets',
      csv,
      'a,b,a\n1,2,3\n4,5,6\n',
      400,
      /column name "a" appears twice/,
    ],
    [
      'CSV with an empty column name',
      'post',
      () => '/v1/datasets',
      csv,
      'a,,c\n1,2,3\n4,5,6\n',
      400,
      /empty column name/,
    ],
    [
      'CSV with a __proto__ column',
      'post',
      () => '/v1/datasets',
      csv,
      '__proto__,b\n1,2\n3,4\n',
      400,
      /"__proto__", which is reserved/,
    ],
    [
      'CSV with too many columns',
      'post',
      () => '/v1/datasets',
      csv,
      'a,b,c,d,e,f,g\n1,2,3,4,5,6,7\n1,2,3,4,5,6,7\n',
      400,
      /more than 6 columns/,
    ],
    [
      'CSV with too many rows',
      'post',
      () => '/v1/datasets',
      csv,
      'a\n' + '1\n'.repeat(51),
      400,
      /51 rows; the limit is 50/,
    ],
    [
      'CSV with Infinity',
      'post',
      () => '/v1/datasets',
      csv,
      'a,b\n1,Infinity\n2,3\n',
      400,
      /"Infinity" is not a finite number/,
    ],
    ['CSV with 1e999', 'post', () => '/v1/datasets', csv, 'a,b\n1,1e999\n2,3\n', 400, /"1e999" is not a finite number/],
    ['CSV with an unclosed quote', 'post', () => '/v1/datasets', csv, 'a,b\n"1,2\n3,4\n', 400, /could not be parsed/],
    ['CSV, header only', 'post', () => '/v1/datasets', csv, 'a,b\n', 400, /0 data rows; at least 2/],
    ['CSV, empty', 'post', () => '/v1/datasets', csv, '', 400, /./],
    ['CSV of binary junk', 'post', () => '/v1/datasets', csv, '\u0000\u0001\u0002,\u0000\n\u0003', 400, /./],
    // Datasets, JSON
    ['JSON with NaN', 'post', () => '/v1/datasets', json, '{"rows":[{"a":NaN},{"a":1}]}', 400, /JSON/],
    ['JSON with Infinity', 'post', () => '/v1/datasets', json, '{"rows":[{"a":Infinity},{"a":1}]}', 400, /JSON/],
    [
      'JSON with 1e999 (parses to Infinity)',
      'post',
      () => '/v1/datasets',
      json,
      '{"rows":[{"a":1e999},{"a":1}]}',
      400,
      /row 0 column "a": Infinity is not allowed/,
    ],
    [
      'JSON rows with nested junk',
      'post',
      () => '/v1/datasets',
      json,
      '{"rows":[{"a":1},{"a":{"b":[1,{"c":2}]}}]}',
      400,
      /row 1 column "a": an object is not allowed/,
    ],
    [
      'JSON rows that are not objects',
      'post',
      () => '/v1/datasets',
      json,
      '{"rows":[1,"two",null]}',
      400,
      /row 0 must be an object/,
    ],
    ['JSON rows as a string', 'post', () => '/v1/datasets', json, '{"rows":"a,b"}', 400, /rows/],
    [
      'JSON with an empty key',
      'post',
      () => '/v1/datasets',
      json,
      '{"rows":[{"":1},{"":2}]}',
      400,
      /empty column name/,
    ],
    [
      'JSON with too many columns',
      'post',
      () => '/v1/datasets',
      json,
      `{"rows":[{${'abcdefg'
        .split('')
        .map((k) => `"${k}":1`)
        .join(',')}},{"a":1}]}`,
      400,
      /more than 6 columns/,
    ],
    [
      'JSON with too many rows',
      'post',
      () => '/v1/datasets',
      json,
      `{"rows":[${Array(51).fill('{"a":1}').join(',')}]}`,
      400,
      /51 rows; the limit is 50/,
    ],
    [
      'JSON with __proto__',
      'post',
      () => '/v1/datasets',
      json,
      '{"rows":[{"a":1},{"__proto__":{"polluted":true}}]}',
      400,
      /__proto__/,
    ],
    [
      'JSON with constructor.prototype',
      'post',
      () => '/v1/datasets',
      json,
      '{"rows":[{"constructor":{"prototype":{"polluted":true}}},{"a":1}]}',
      400,
      /constructor/,
    ],
    ['JSON cut short', 'post', () => '/v1/datasets', json, '{"rows":[{"a":1}', 400, /JSON/],
    [
      'JSON nested 10,000 deep',
      'post',
      () => '/v1/datasets',
      json,
      '{"rows":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}',
      400,
      /./,
    ],
    [
      'XML',
      'post',
      () => '/v1/datasets',
      'application/xml',
      '<rows/>',
      415,
      /is not accepted by POST \/v1\/[a-z-]+; send "application\/json"/,
    ],
    // Training jobs
    [
      'training: a string for a number',
      'post',
      () => '/v1/training-jobs',
      json,
      training(',"training":{"epochs":"10"}'),
      400,
      /training\.epochs: .*number/,
    ],
    [
      'training: 1e999 epochs',
      'post',
      () => '/v1/training-jobs',
      json,
      training(',"training":{"epochs":1e999}'),
      400,
      /training\.epochs/,
    ],
    [
      'training: 10,000 layers',
      'post',
      () => '/v1/training-jobs',
      json,
      training(`,"model":{"hidden":[${Array(10_000).fill('{"units":1}').join(',')}]}`),
      400,
      /model\.hidden/,
    ],
    [
      'training: nested junk as the model',
      'post',
      () => '/v1/training-jobs',
      json,
      training(',"model":{"hidden":{"0":{"units":[[[1]]]}}}'),
      400,
      /model\.hidden/,
    ],
    [
      'training: __proto__',
      'post',
      () => '/v1/training-jobs',
      json,
      training(',"__proto__":{"polluted":true}'),
      400,
      /__proto__/,
    ],
    [
      'training: constructor',
      'post',
      () => '/v1/training-jobs',
      json,
      training(',"constructor":{"prototype":{"polluted":true}}'),
      400,
      /constructor/,
    ],
    [
      'training: an unknown constructor key',
      'post',
      () => '/v1/training-jobs',
      json,
      training(',"constructor":1'),
      400,
      /constructor/,
    ],
    ['training: an array body', 'post', () => '/v1/training-jobs', json, '[]', 400, /expected object/i],
    [
      'training: CSV',
      'post',
      () => '/v1/training-jobs',
      csv,
      'a,b\n1,2\n',
      415,
      /is not accepted by POST \/v1\/[a-z-]+; send "application\/json"/,
    ],
    [
      'training: an id of 10,000 characters',
      'post',
      () => '/v1/training-jobs',
      json,
      `{"datasetId":"${'x'.repeat(10_000)}","target":"y","task":"regression"}`,
      400,
      /datasetId/,
    ],
    // Predict
    [
      'predict: a string for a number',
      'post',
      predictUrl,
      json,
      '{"rows":[{"a":"high","b":1,"color":"red"}]}',
      400,
      /feature "a" must be a finite number/,
    ],
    [
      'predict: 1e999',
      'post',
      predictUrl,
      json,
      '{"inputs":[[1e999,1,"red"]]}',
      400,
      /feature "a" must be a finite number or null, got Infinity/,
    ],
    ['predict: NaN', 'post', predictUrl, json, '{"inputs":[[NaN,1,"red"]]}', 400, /JSON/],
    ['predict: nested junk', 'post', predictUrl, json, '{"inputs":[[[1],{"a":2},"red"]]}', 400, /row 0 feature "a"/],
    [
      'predict: too many rows',
      'post',
      predictUrl,
      json,
      `{"inputs":[${Array(6).fill('[1,2,"red"]').join(',')}]}`,
      400,
      /6 rows; the limit is 5/,
    ],
    [
      'predict: too many columns',
      'post',
      predictUrl,
      json,
      '{"inputs":[[1,2,"red",4,5,6]]}',
      400,
      /row 0 has 6 values; expected 3/,
    ],
    [
      'predict: __proto__',
      'post',
      predictUrl,
      json,
      '{"rows":[{"a":1,"b":2,"color":"red","__proto__":{"polluted":true}}]}',
      400,
      /__proto__/,
    ],
    [
      'predict: constructor',
      'post',
      predictUrl,
      json,
      '{"rows":[{"a":1,"b":2,"color":"red","constructor":{"prototype":{"x":1}}}]}',
      400,
      /constructor/,
    ],
    [
      'predict: both rows and inputs',
      'post',
      predictUrl,
      json,
      '{"rows":[],"inputs":[]}',
      400,
      /exactly one of "rows"/,
    ],
    // Reads
    ['models: a negative offset', 'get', () => '/v1/models?offset=-1', json, '', 400, /offset/],
    ['models: a limit that is not a number', 'get', () => '/v1/models?limit=1e999', json, '', 400, /limit/],
    [
      'dataset id of 200 characters',
      'get',
      () => `/v1/datasets/${'d'.repeat(200)}`,
      json,
      '',
      414,
      /path parameter is too long/,
    ],
    ['a broken percent-encoding', 'get', () => '/v1/datasets/%E0%A4%A', json, '', 400, /URL is not valid/],
    [
      'job id of unicode junk',
      'get',
      () => `/v1/training-jobs/${encodeURIComponent('\u202e\u0000💥')}`,
      json,
      '',
      404,
      /does not exist/,
    ],
  ];

  for (const [name, method, url, contentType, body, status, message] of cases) {
    test(name, async () => {
      const res = await svc.app.inject({
        method: method === 'post' ? 'POST' : 'GET',
        url: url(),
        headers: method === 'post' ? { 'content-type': contentType } : {},
        ...(method === 'post' ? { payload: body } : {}),
      });
      assert.equal(res.statusCode, status, `${name}: ${res.statusCode} ${res.body.slice(0, 300)}`);
      const error = res.json().error;
      assert.equal(typeof error?.code, 'string', res.body);
      assert.match(error.message, message);
      assert.ok(error.message.length < 1_000, 'a bounded message');
    });
  }

  test('nothing reached Object.prototype', () => {
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});
