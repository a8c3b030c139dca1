import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import type { Config } from '../../src/config';
import { modelDeletedKey } from '../../src/store/model-registry';
import { modelKey, type StoredModel } from '../../src/store/model-store';
import { xorCsv } from '../helpers/app';
import { deletePrefix, testConfig } from '../helpers/config';
import { trainStoredModel } from '../serving/stored-model';

/** Until `condition` holds, checked on each turn of the event loop (a wait, never a timed assertion). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('named models: versions, aliases, deletion across replicas', () => {
  let config: Config;
  /** Two API replicas on one Redis prefix. */
  let a: FastifyInstance;
  let b: FastifyInstance;
  let httpA: ReturnType<typeof supertest>;
  let httpB: ReturnType<typeof supertest>;
  let v1: StoredModel;
  let v2: StoredModel;
  const rows = [
    { a: 0.9, b: -0.8, color: 'red' },
    { a: -0.3, b: 0.7, color: 'blue' },
    { a: 0.1, b: 0.2, color: 'red' },
  ];

  before(async () => {
    config = testConfig();
    a = await buildApp(config);
    b = await buildApp(config);
    await Promise.all([a.ready(), b.ready()]);
    await Promise.all([a.modelEvents.ready(), b.modelEvents.ready()]);
    httpA = supertest(a.server);
    httpB = supertest(b.server);
    const spec = { target: 'label', task: 'classification' as const, training: { epochs: 3 } };
    v1 = await trainStoredModel(xorCsv(120), { ...spec, training: { epochs: 3, seed: 1 } });
    v2 = await trainStoredModel(xorCsv(120), {
      ...spec,
      model: { hidden: [{ units: 5 }] },
      training: { epochs: 3, seed: 2 },
    });
    await a.models.save(v1.meta, v1.frozen);
    await a.models.save(v2.meta, v2.frozen);
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    await deletePrefix(config);
  });

  const predict = (http: ReturnType<typeof supertest>, ref: string) =>
    http.post(`/v1/models/${ref}/predict`).send({ rows });

  test('versions are numbered in order and listed with the name', async () => {
    const first = await httpA.post('/v1/model-names/churn/versions').send({ modelId: v1.meta.id });
    assert.equal(first.status, 201, first.text);
    assert.deepEqual(
      { name: first.body.name, version: first.body.version, modelId: first.body.modelId },
      { name: 'churn', version: 1, modelId: v1.meta.id },
    );
    const second = await httpB.post('/v1/model-names/churn/versions').send({ modelId: v2.meta.id });
    assert.equal(second.body.version, 2);
    const missing = await httpA.post('/v1/model-names/churn/versions').send({ modelId: 'mdl_missing' });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'MODEL_NOT_FOUND');
    const bad = await httpA.post('/v1/model-names/-bad/versions').send({ modelId: v1.meta.id });
    assert.equal(bad.status, 400);

    const name = await httpA.get('/v1/model-names/churn');
    assert.equal(name.status, 200);
    assert.deepEqual(
      name.body.versions.map((v: { version: number; modelId: string }) => [v.version, v.modelId]),
      [
        [1, v1.meta.id],
        [2, v2.meta.id],
      ],
    );
    assert.equal(name.body.latestVersion, 2);
    const list = await httpA.get('/v1/model-names?limit=10');
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.names.map((n: { name: string }) => n.name),
      ['churn'],
    );
    assert.equal(list.body.total, 1);
  });

  test('an alias addresses predict on every replica, moves atomically and rolls back', async () => {
    const direct1 = await predict(httpA, v1.meta.id);
    const direct2 = await predict(httpA, v2.meta.id);
    assert.notDeepEqual(
      direct1.body.probabilities,
      direct2.body.probabilities,
      'the two versions must differ for this test to mean anything',
    );

    // No alias yet: a bare name is its latest version (`churn@2` on /v1).
    assert.equal((await predict(httpA, 'churn@production')).body.error.code, 'ALIAS_NOT_FOUND');
    const moved = await httpA.put('/v1/model-names/churn/aliases/production').send({ version: 1 });
    assert.equal(moved.status, 200, moved.text);
    assert.deepEqual(moved.body, { name: 'churn', alias: 'production', version: 1, modelId: v1.meta.id });
    assert.ok(a.modelCache.has(v1.meta.id), 'the model is warmed before the alias moves');
    for (const http of [httpA, httpB]) {
      const res = await predict(http, 'churn@production');
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-model-id'], v1.meta.id);
      assert.deepEqual(res.body.probabilities, direct1.body.probabilities);
    }

    const again = await httpB.put('/v1/model-names/churn/aliases/production').send({ version: 2 });
    assert.equal(again.body.previousVersion, 1);
    for (const http of [httpA, httpB]) {
      const res = await predict(http, 'churn@production');
      assert.equal(res.headers['x-model-id'], v2.meta.id);
      assert.deepEqual(res.body.probabilities, direct2.body.probabilities);
    }
    assert.equal((await predict(httpA, 'churn@1')).headers['x-model-id'], v1.meta.id);
    assert.equal((await httpA.get('/v1/models/churn@production')).body.id, v2.meta.id);

    // Rollback is a move back.
    await httpA.put('/v1/model-names/churn/aliases/production').send({ version: 1 });
    assert.equal((await predict(httpB, 'churn@production')).headers['x-model-id'], v1.meta.id);
    const history = await httpA.get('/v1/model-names/churn/history');
    assert.deepEqual(
      history.body.moves.map((m: { alias: string; from?: number; to?: number }) => [m.alias, m.from, m.to]),
      [
        ['production', 2, 1],
        ['production', 1, 2],
        ['production', undefined, 1],
      ],
    );

    const noVersion = await httpA.put('/v1/model-names/churn/aliases/staging').send({ version: 9 });
    assert.equal(noVersion.status, 404);
    assert.equal(noVersion.body.error.code, 'MODEL_VERSION_NOT_FOUND');
    assert.equal(
      (await httpA.put('/v1/model-names/churn/aliases/12').send({ version: 1 })).status,
      400,
      'an all-digit alias would shadow a version',
    );
    assert.equal((await predict(httpA, 'nobody@production')).body.error.code, 'MODEL_NAME_NOT_FOUND');
    assert.equal((await predict(httpA, 'churn@7')).body.error.code, 'MODEL_VERSION_NOT_FOUND');
  });

  test('a model an alias points to cannot be deleted; once deleted, no replica serves it', async () => {
    // Both replicas hold v1 (it answered on both above).
    assert.ok(a.modelCache.has(v1.meta.id) && b.modelCache.has(v1.meta.id));
    const refused = await httpA.delete(`/v1/models/${v1.meta.id}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, 'MODEL_IN_USE');
    assert.match(refused.body.error.message, /churn@production/);

    assert.equal((await httpA.delete('/v1/model-names/churn/aliases/production')).status, 204);
    assert.equal((await httpA.delete('/v1/model-names/churn/aliases/production')).status, 404);
    assert.equal((await httpA.delete(`/v1/models/${v1.meta.id}`)).status, 204);
    assert.equal((await httpA.delete(`/v1/models/${v1.meta.id}`)).status, 404);

    // The other replica hears of it (pub/sub from the delete script) and drops its copy.
    await until(() => !b.modelCache.has(v1.meta.id));
    assert.equal((await predict(httpB, v1.meta.id)).status, 404);
    assert.equal((await httpB.get(`/v1/models/${v1.meta.id}`)).status, 404);
    const name = await httpB.get('/v1/model-names/churn');
    assert.deepEqual(
      name.body.versions.map((v: { version: number }) => v.version),
      [2],
      "the deleted model's version is gone",
    );
    assert.equal(name.body.latestVersion, 2);
    assert.equal((await predict(httpB, 'churn@1')).body.error.code, 'MODEL_VERSION_NOT_FOUND');
    const models = await httpA.get('/v1/models');
    assert.ok(!models.body.models.some((m: { id: string }) => m.id === v1.meta.id));

    // A number is never reused.
    const third = await httpA.post('/v1/model-names/churn/versions').send({ modelId: v2.meta.id });
    assert.equal(third.body.version, 3);
  });

  test('a deletion missed while disconnected is caught by the check after reconnecting; lost data is not a deletion', async () => {
    assert.equal((await predict(httpB, v2.meta.id)).status, 200);
    assert.ok(b.modelCache.has(v2.meta.id));
    // The model's key goes without a deletion (a Redis that came back without its data): B keeps serving it.
    await b.redis.del(modelKey(config.redisPrefix, v2.meta.id));
    await b.modelEvents.revalidate();
    assert.ok(b.modelCache.has(v2.meta.id));
    assert.equal((await predict(httpB, v2.meta.id)).status, 200);
    // A deletion whose message B missed: the delete script's mark, without the message.
    await b.redis.set(modelDeletedKey(config.redisPrefix, v2.meta.id), new Date().toISOString());
    assert.ok(b.modelCache.has(v2.meta.id));
    await b.modelEvents.revalidate();
    assert.ok(!b.modelCache.has(v2.meta.id));
    assert.equal((await predict(httpB, v2.meta.id)).status, 404);
  });
});
