import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import type { Config } from '../../src/config';
import type { StoredModel } from '../../src/store/model-store';
import { xorCsv } from '../helpers/app';
import { deletePrefix, testConfig } from '../helpers/config';
import { trainStoredModel } from './stored-model';

describe('input drift at predict', () => {
  let config: Config;
  let app: FastifyInstance;
  let http: ReturnType<typeof supertest>;
  let model: StoredModel;

  before(async () => {
    config = testConfig({ PREDICT_DRIFT_K: '3' });
    app = await buildApp(config);
    await app.ready();
    http = supertest(app.server);
    model = await trainStoredModel(xorCsv(120), {
      target: 'label',
      task: 'classification',
      training: { epochs: 2, seed: 1 },
    });
    await app.models.save(model.meta, model.frozen);
  });
  after(async () => {
    await app.close();
    await deletePrefix(config);
  });

  test('values beyond k training standard deviations and unseen categories are counted, per model', async () => {
    const a = model.meta.preprocessing.features.find((f) => f.name === 'a');
    const b = model.meta.preprocessing.features.find((f) => f.name === 'b');
    assert.ok(a?.type === 'numeric' && b?.type === 'numeric');
    const rows = [
      { a: a.mean + 3.5 * a.std, b: b.mean, color: 'red' }, // a beyond 3 std
      { a: a.mean - 2.5 * a.std, b: b.mean + 2.9 * b.std, color: 'green' }, // within; an unseen category
      { a: a.mean - 10 * a.std, b: b.mean - 4 * b.std, color: 'blue' }, // both beyond
    ];
    const res = await http.post(`/v1/models/${model.meta.id}/predict?explain=drift`).send({ rows });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.drift, { k: 3, rows: 3, outOfRange: { a: 2, b: 1 }, unseenCategories: 1 });

    const plain = await http.post(`/v1/models/${model.meta.id}/predict`).send({ rows });
    assert.equal(plain.body.drift, undefined, 'only with ?explain=drift');
    assert.deepEqual(plain.body.probabilities, res.body.probabilities);
    assert.equal(
      (await http.post(`/v1/models/${model.meta.id}/predict?explain=everything`).send({ rows })).status,
      400,
    );

    const v2 = await http.post(`/v2/models/${model.meta.id}/infer`).send({
      inputs: [
        { name: 'a', shape: [1], datatype: 'FP32', data: [a.mean + 5 * a.std] },
        { name: 'b', shape: [1], datatype: 'FP32', data: [b.mean] },
        { name: 'color', shape: [1], datatype: 'BYTES', data: ['red'] },
      ],
    });
    assert.equal(v2.status, 200, v2.text);

    const metrics = (await http.get('/metrics')).text;
    const count = (kind: string) =>
      Number(
        new RegExp(`^fitwell_predict_drift_total\\{model="${model.meta.id}",kind="${kind}"\\} (\\d+)`, 'm').exec(
          metrics,
        )?.[1],
      );
    assert.equal(count('out_of_range'), 3 + 3 + 1);
    assert.equal(count('unseen_category'), 2);
  });
});
