import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import supertest from 'supertest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import type { Config } from '../../src/config';
import type { StoredModel } from '../../src/store/model-store';
import { xorCsv } from '../helpers/app';
import { deletePrefix, testConfig } from '../helpers/config';
import { trainStoredModel } from '../serving/stored-model';

/**
 * The Open Inference Protocol endpoints with requests shaped as the clients send them:
 * tritonclient.http (JSON without a Content-Type, flattened data, `outputs` with
 * `binary_data: false`) and KServe's Python InferenceRESTClient (application/json, `id` null when
 * unset, flattened data). The answers must be /v1 predict's numbers.
 */
describe('Open Inference Protocol (/v2)', () => {
  let config: Config;
  let app: FastifyInstance;
  let http: ReturnType<typeof supertest>;
  let model: StoredModel;
  let regression: StoredModel;
  const rows = [
    { a: 0.9, b: -0.8, color: 'red' },
    { a: -0.3, b: 0.7, color: 'blue' },
    { a: 0.1, b: 0.2, color: 'red' },
  ];
  const tensors = (shape: (n: number) => number[]) => [
    { name: 'a', shape: shape(rows.length), datatype: 'FP32', data: rows.map((r) => r.a) },
    { name: 'b', shape: shape(rows.length), datatype: 'FP32', data: rows.map((r) => r.b) },
    { name: 'color', shape: shape(rows.length), datatype: 'BYTES', data: rows.map((r) => r.color) },
  ];

  before(async () => {
    config = testConfig();
    app = await buildApp(config);
    await app.ready();
    http = supertest(app.server);
    model = await trainStoredModel(xorCsv(120), {
      target: 'label',
      task: 'classification',
      training: { epochs: 3, seed: 1 },
    });
    const csv = 'x,y\n' + Array.from({ length: 60 }, (_, i) => `${i / 10},${(3 * i) / 10 + 1}`).join('\n');
    regression = await trainStoredModel(csv, { target: 'y', task: 'regression', training: { epochs: 3, seed: 1 } });
    await app.models.save(model.meta, model.frozen);
    await app.models.save(regression.meta, regression.frozen);
    await http.post('/v1/model-names/xor/versions').send({ modelId: model.meta.id }).expect(201);
    await http.put('/v1/model-names/xor/aliases/production').send({ version: 1 }).expect(200);
  });
  after(async () => {
    await app.close();
    await deletePrefix(config);
  });

  test('server metadata, liveness and readiness', async () => {
    const meta = await http.get('/v2');
    assert.equal(meta.status, 200);
    assert.equal(meta.body.name, 'fitwell');
    assert.deepEqual(meta.body.extensions, []);
    const live = await http.get('/v2/health/live');
    assert.equal(live.status, 200);
    assert.equal(live.text, '');
    assert.equal((await http.get('/v2/health/ready')).status, 200);
  });

  test('model metadata: one input per feature, named outputs, versions', async () => {
    const res = await http.get('/v2/models/xor');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      name: 'xor',
      versions: ['1'],
      platform: 'fitwell_tfjs',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 1] },
        { name: 'b', datatype: 'FP32', shape: [-1, 1] },
        { name: 'color', datatype: 'BYTES', shape: [-1, 1] },
      ],
      outputs: [
        { name: 'label', datatype: 'BYTES', shape: [-1] },
        { name: 'class_index', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
    });
    assert.equal((await http.get('/v2/models/xor/versions/1')).status, 200);
    assert.equal((await http.get('/v2/models/xor/versions/production')).status, 200);
    const byId = await http.get(`/v2/models/${model.meta.id}`);
    assert.equal(byId.body.versions, undefined);
    assert.equal((await http.get(`/v2/models/xor/versions/1/ready`)).status, 200);
    assert.equal((await http.get(`/v2/models/${regression.meta.id}/ready`)).status, 200);
    const missing = await http.get('/v2/models/nothing/ready');
    assert.equal(missing.status, 404);
    assert.equal(typeof missing.body.error, 'string');
  });

  test("a Triton-client request (no Content-Type, flattened data) answers /v1 predict's numbers", async () => {
    const v1 = await http.post(`/v1/models/${model.meta.id}/predict`).send({ rows });
    assert.equal(v1.status, 200);
    const body = JSON.stringify({
      inputs: tensors((n) => [n, 1]),
      outputs: ['label', 'class_index', 'probabilities'].map((name) => ({ name, parameters: { binary_data: false } })),
    });
    // supertest always sets a content type; inject sends a string body with none, as tritonclient does.
    const injected = await app.inject({ method: 'POST', url: '/v2/models/xor/versions/1/infer', payload: body });
    assert.equal(injected.headers['content-type']?.toString().startsWith('application/json'), true);
    assert.equal(injected.statusCode, 200, injected.body);
    const res = { body: injected.json() };
    assert.equal(res.body.model_name, 'xor');
    assert.equal(res.body.model_version, '1');
    assert.equal(typeof res.body.id, 'string');
    const out = Object.fromEntries(res.body.outputs.map((o: { name: string }) => [o.name, o]));
    assert.deepEqual(out.probabilities.shape, [3, 2]);
    assert.equal(out.probabilities.datatype, 'FP32');
    assert.deepEqual(out.probabilities.data, v1.body.probabilities.flat());
    assert.deepEqual(out.label.data, v1.body.predictions.map(String));
    assert.deepEqual(
      out.class_index.data,
      v1.body.predictions.map((p: string | number) => v1.body.classes.indexOf(p)),
    );
  });

  test('a KServe-client request (application/json, id null, [N] shapes) and one [N, F] BYTES tensor', async () => {
    const v1 = await http.post(`/v1/models/${model.meta.id}/predict`).send({ rows });
    const kserve = await http.post('/v2/models/xor/infer').send({ id: null, inputs: tensors((n) => [n]) });
    assert.equal(kserve.status, 200, kserve.text);
    assert.equal(kserve.body.model_version, '1', 'no version: the production alias');
    const probabilities = kserve.body.outputs.find((o: { name: string }) => o.name === 'probabilities');
    assert.deepEqual(probabilities.data, v1.body.probabilities.flat());

    const matrix = await http.post(`/v2/models/${model.meta.id}/infer`).send({
      id: 'req-7',
      inputs: [
        {
          name: 'input-0',
          shape: [3, 3],
          datatype: 'BYTES',
          data: rows.map((r) => [String(r.a), String(r.b), r.color]),
        },
      ],
      outputs: [{ name: 'probabilities' }],
    });
    assert.equal(matrix.status, 200, matrix.text);
    assert.equal(matrix.body.id, 'req-7');
    assert.equal(matrix.body.model_version, undefined);
    assert.deepEqual(
      matrix.body.outputs.map((o: { name: string }) => o.name),
      ['probabilities'],
    );
    assert.deepEqual(matrix.body.outputs[0].data, v1.body.probabilities.flat());
  });

  test('regression answers `prediction` as /v1 does', async () => {
    const v1 = await http.post(`/v1/models/${regression.meta.id}/predict`).send({ rows: [{ x: 1 }, { x: 2.5 }] });
    const res = await http
      .post(`/v2/models/${regression.meta.id}/infer`)
      .send({ inputs: [{ name: 'x', shape: [2], datatype: 'FP64', data: [1, 2.5] }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.outputs, [
      { name: 'prediction', datatype: 'FP64', shape: [2], data: v1.body.predictions },
    ]);
  });

  test('errors are the protocol\'s {"error": "<message>"}', async () => {
    const expectError = async (res: supertest.Response, status: number, pattern: RegExp) => {
      assert.equal(res.status, status, res.text);
      assert.deepEqual(Object.keys(res.body), ['error']);
      assert.equal(typeof res.body.error, 'string');
      assert.match(res.body.error, pattern);
    };
    const infer = (body: unknown) => http.post('/v2/models/xor/infer').send(body as object);
    await expectError(
      await infer({ inputs: [{ ...tensors((n) => [n])[0], shape: [4] }, ...tensors((n) => [n]).slice(1)] }),
      400,
      /shape \[4\] holds 4 elements, but data holds 3/,
    );
    await expectError(await infer({ inputs: tensors((n) => [n]).slice(0, 2) }), 400, /"color" are missing/);
    await expectError(
      await infer({
        inputs: [...tensors((n) => [n]), { name: 'colour', shape: [3], datatype: 'BYTES', data: ['a', 'b', 'c'] }],
      }),
      400,
      /"colour" is not a feature/,
    );
    await expectError(
      await infer({ inputs: [{ ...tensors((n) => [n])[2], datatype: 'FP32' }, ...tensors((n) => [n]).slice(0, 2)] }),
      400,
      /categorical feature: send datatype BYTES/,
    );
    await expectError(
      await infer({ inputs: tensors((n) => [n]), outputs: [{ name: 'logits' }] }),
      400,
      /output "logits" does not exist/,
    );
    await expectError(await infer({ inputs: 'none' }), 400, /inputs/);
    await expectError(
      await http
        .post('/v2/models/xor/infer')
        .set('inference-header-content-length', '10')
        .send({ inputs: tensors((n) => [n]) }),
      400,
      /binary tensor data/,
    );
    await expectError(await http.post('/v2/models/xor/infer').type('text/xml').send('<a/>'), 415, /application\/json/);
    await expectError(
      await http.post('/v2/models/nobody/infer').send({ inputs: tensors((n) => [n]) }),
      404,
      /does not exist/,
    );
    await expectError(
      await http.post('/v2/models/xor/versions/canary/infer').send({ inputs: tensors((n) => [n]) }),
      404,
      /no alias "canary"/,
    );
    await expectError(await http.get('/v2/repository/index'), 404, /no route/);
  });
});
