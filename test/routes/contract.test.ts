import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { Redis as IORedis } from 'ioredis';
import { buildApp } from '../../src/app';
import type { Config } from '../../src/config';
import { deletePrefix, testConfig } from '../helpers/config';
import { ContractValidator, type HttpResponse } from '../helpers/openapi-contract';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { PrivateRedis } from '../helpers/private-redis';
import { createSearchWorker } from '../../jobs/search-worker';
import { waitForReady } from '../helpers/ready';

/**
 * The contract: every response the real app gives (over HTTP, real Redis, real worker) matches
 * the OpenAPI document it serves: status documented, content type documented, JSON bodies and
 * documented headers valid against their schemas, and the headers clients act on documented
 * where they are sent. The last test checks the other direction: every status the document
 * promises for an operation was seen here, apart from the 500 (a bug).
 */
const KEY = 'contract-test-key-0123456789abcdef';
const BEARER = `Bearer ${KEY}`;
const BODY_LIMIT = 16 * 1024;
const DATASET_BODY_LIMIT = 64 * 1024;

interface Operation {
  method: string;
  template: string;
  requestBody?: { content: Record<string, unknown> };
  parameters?: { in: string; name: string }[];
  responses: Record<string, unknown>;
}
interface Document {
  paths: Record<string, Record<string, Omit<Operation, 'method' | 'template'>>>;
  components: Record<string, unknown>;
}

function operations(document: Document): Operation[] {
  return Object.entries(document.paths).flatMap(([template, item]) =>
    Object.entries(item).map(([method, operation]) => ({ ...operation, method: method.toUpperCase(), template })),
  );
}

/** Statuses no test can cause: a 500 is a bug. */
const UNREACHABLE = new Set(['500']);

describe('contract: every response matches the served /openapi.json', () => {
  let svc: TestService;
  let document: Document;
  let contract: ContractValidator;
  const ids: Record<string, string> = {};
  const extraConfigs: Config[] = [];
  const extraApps: FastifyInstance[] = [];

  /** Sends with the key, checks the response against the document and its expected status. */
  async function expect(request: supertest.Test, status: number, validator = contract): Promise<supertest.Response> {
    const res = await request;
    validator.check(res as unknown as HttpResponse);
    assert.equal(
      res.status,
      status,
      `${(res as unknown as HttpResponse).req.method} ${(res as unknown as HttpResponse).req.path}: ${res.text?.slice(0, 300)}`,
    );
    return res;
  }
  const http = () => svc.http;
  const authed = (request: supertest.Test) => request.set('authorization', BEARER);

  /** A URL for an operation: path parameters filled with known ids (or `fill`). */
  function urlOf(operation: Operation, fill?: string): string {
    return operation.template.replace(/\{(\w+)\}/g, (_, name: string) => fill ?? ids[name] ?? 'missing-id');
  }
  function call(agent: ReturnType<typeof supertest>, operation: Operation, url: string): supertest.Test {
    return agent[operation.method.toLowerCase() as 'get'](url);
  }

  before(async () => {
    svc = await startService({
      env: {
        API_KEYS: KEY,
        BODY_LIMIT: String(BODY_LIMIT),
        PREDICT_BODY_LIMIT: String(BODY_LIMIT),
        DATASET_BODY_LIMIT: String(DATASET_BODY_LIMIT),
        RATE_LIMIT_MAX: '100000',
      },
    });
    const res = await svc.http.get('/openapi.json');
    assert.equal(res.status, 200);
    document = res.body as Document;
    contract = await ContractValidator.fromDocument(document);
  });
  after(async () => {
    await svc.close();
    await Promise.all(extraApps.map((app) => app.close()));
    await Promise.all(extraConfigs.map((config) => deletePrefix(config)));
  });

  async function startApp(env: Record<string, string>): Promise<{
    config: Config;
    app: FastifyInstance;
    http: ReturnType<typeof supertest>;
    contract: ContractValidator;
    document: Document;
  }> {
    const config = testConfig(env);
    extraConfigs.push(config);
    const app = await buildApp(config);
    extraApps.push(app);
    await app.ready();
    const agent = supertest(app.server);
    const served = (await agent.get('/openapi.json')).body as Document;
    return { config, app, http: agent, contract: await ContractValidator.fromDocument(served), document: served };
  }

  test('probes, documentation, metrics and the dashboard', async () => {
    await expect(http().get('/healthz'), 200);
    await expect(http().get('/readyz'), 200);
    await expect(http().get('/openapi.json'), 200);
    await expect(http().get('/metrics'), 200);
    await expect(http().get('/docs').redirects(1), 200);
    await expect(http().get('/v2/health/live'), 200);
    await expect(http().get('/admin/queues'), 401);
    const basic = `Basic ${Buffer.from(`me:${KEY}`).toString('base64')}`;
    await expect(http().get('/admin/queues').set('authorization', basic), 200);
  });

  test('datasets', async () => {
    const created = await expect(authed(http().post('/v1/datasets')).type('text/csv').send(xorCsv(80)), 201);
    ids.datasetId = created.body.id;
    await expect(
      authed(http().post('/v1/datasets')).send({
        rows: [
          { a: 1, b: 'x' },
          { a: 2, b: 'y' },
        ],
      }),
      201,
    );
    await expect(authed(http().post('/v1/datasets')).type('text/csv').send('a,b\n1,2\n3\n'), 400);
    await expect(
      authed(http().post('/v1/datasets'))
        .type('text/csv')
        .send('a,b\n' + '1.25,2.5\n'.repeat(DATASET_BODY_LIMIT / 8)),
      413,
    );
    await expect(authed(http().post('/v1/datasets')).type('application/xml').send('<a/>'), 415);
    await expect(authed(http().get(`/v1/datasets/${ids.datasetId}`)), 200);
    await expect(authed(http().get('/v1/datasets/ds_missing')), 404);
    await expect(authed(http().post('/v1/datasets')).type('application/x-ndjson').send('{"a":1}\n{"a":2}\n'), 201);
    await expect(authed(http().get('/v1/datasets?limit=2')), 200);
    await expect(authed(http().get('/v1/datasets?limit=0')), 400);
    await expect(authed(http().get(`/v1/datasets/${ids.datasetId}/schema`)), 200);
    await expect(authed(http().get('/v1/datasets/ds_missing/schema')), 404);
    const doomed = await expect(authed(http().post('/v1/datasets')).type('text/csv').send('a,b\n1,2\n3,4\n'), 201);
    await expect(authed(http().delete(`/v1/datasets/${doomed.body.id}`)), 204);
    await expect(authed(http().delete(`/v1/datasets/${doomed.body.id}`)), 404);
    // A 409: a dataset a waiting job trains on (an app without a worker, so the job stays waiting).
    const idle = await startApp({ RATE_LIMIT_MAX: '0' });
    const used = await expect(idle.http.post('/v1/datasets').type('text/csv').send(xorCsv(20)), 201, idle.contract);
    await expect(
      idle.http.post('/v1/training-jobs').send({ datasetId: used.body.id, target: 'label', task: 'classification' }),
      202,
      idle.contract,
    );
    const refused = await expect(idle.http.delete(`/v1/datasets/${used.body.id}`), 409, idle.contract);
    assert.equal(refused.body.error.code, 'DATASET_IN_USE');
    contract.seen.add('DELETE /v1/datasets/{datasetId} 409');
  });

  test('training jobs: queue (idempotent), read, follow, cancel', async () => {
    const request = {
      datasetId: ids.datasetId,
      target: 'label',
      task: 'classification',
      training: { epochs: 2, seed: 1, testSplit: 0.2 },
      // Every part of the evaluation, so the job's and the model's documents cover it.
      evaluation: { calibration: 'temperature', threshold: 'f1', importance: { repeats: 2 } },
      validation: { folds: 3 },
    };
    const queued = await expect(
      authed(http().post('/v1/training-jobs')).set('idempotency-key', 'contract-1').send(request),
      202,
    );
    ids.jobId = queued.body.jobId;
    const replayed = await expect(
      authed(http().post('/v1/training-jobs')).set('idempotency-key', 'contract-1').send(request),
      202,
    );
    assert.equal(replayed.headers['idempotent-replayed'], 'true');
    await expect(
      authed(http().post('/v1/training-jobs'))
        .set('idempotency-key', 'contract-1')
        .send({ ...request, training: { epochs: 3 } }),
      422,
    );
    await expect(authed(http().post('/v1/training-jobs')).send({ ...request, task: 'clustering' }), 400);
    await expect(authed(http().post('/v1/training-jobs')).send({ ...request, datasetId: 'ds_missing' }), 404);
    await expect(authed(http().post('/v1/training-jobs')).send({ ...request, pad: 'x'.repeat(BODY_LIMIT) }), 413);
    await expect(authed(http().post('/v1/training-jobs')).type('text/plain').send(JSON.stringify(request)), 415);

    await expect(authed(http().get(`/v1/training-jobs/${ids.jobId}`)), 200);
    await svc.waitForJob(ids.jobId);
    const job = await expect(authed(http().get(`/v1/training-jobs/${ids.jobId}`)), 200);
    ids.modelId = job.body.modelId;
    for (const key of ['validation', 'test', 'calibration', 'threshold', 'importance']) {
      assert.ok(job.body.evaluation?.[key], `the job's evaluation has ${key}`);
    }
    assert.equal(job.body.crossValidation?.perFold.length, 3, 'the cross-validation is in the document too');
    await expect(authed(http().get('/v1/training-jobs/nope')), 404);
    await expect(authed(http().get(`/v1/training-jobs/${ids.jobId}/events`)), 200);
    await expect(authed(http().get(`/v1/training-jobs/${ids.jobId}/events`)).set('last-event-id', 'end'), 204);
    await expect(authed(http().get('/v1/training-jobs/nope/events')), 404);
    await expect(authed(http().get(`/v1/training-jobs/${ids.jobId}/curves.svg`)), 200);
    await expect(authed(http().get('/v1/training-jobs/nope/curves.svg')), 404);
    await expect(authed(http().get(`/v1/training-jobs/${ids.jobId}/report`)), 200);
    await expect(authed(http().get('/v1/training-jobs/nope/report')), 404);

    await expect(authed(http().delete('/v1/training-jobs/nope')), 404);
    const other = await expect(
      authed(http().post('/v1/training-jobs')).send({ ...request, training: { epochs: 50 } }),
      202,
    );
    await expect(authed(http().delete(`/v1/training-jobs/${other.body.jobId}`)), 202);
    ids.cancelledJobId = other.body.jobId;
  });

  test('models: list, read, predict, export', async () => {
    await expect(authed(http().get('/v1/models')), 200);
    await expect(authed(http().get('/v1/models?limit=0')), 400);
    const model = await expect(authed(http().get(`/v1/models/${ids.modelId}`)), 200);
    assert.ok(model.body.evaluation?.calibration?.temperature > 0, "the model's evaluation has its temperature");
    await expect(authed(http().get('/v1/models/mdl_missing')), 404);
    const predict = `/v1/models/${ids.modelId}/predict`;
    await expect(authed(http().post(predict)).send({ rows: [{ a: 0.5, b: -0.5, color: 'red' }] }), 200);
    await expect(authed(http().post(predict)).send({ inputs: [[0.5, -0.5, 'blue']] }), 200);
    const drift = await expect(
      authed(http().post(`${predict}?explain=drift`)).send({ inputs: [[50, -0.5, 'green']] }),
      200,
    );
    assert.equal(drift.body.drift.outOfRange.a, 1);
    await expect(authed(http().post(predict)).send({ rows: [{ a: 'high', b: 1, color: 'red' }] }), 400);
    await expect(authed(http().post('/v1/models/mdl_missing/predict')).send({ inputs: [[1, 2, 'red']] }), 404);
    await expect(
      authed(http().post(predict)).send({ inputs: Array.from({ length: 2_000 }, () => [0.12345, 0.6789, 'red']) }),
      413,
    );
    await expect(authed(http().post(predict)).type('text/plain').send('{"inputs":[[1,2,"red"]]}'), 415);
    await expect(authed(http().get(`/v1/models/${ids.modelId}/export`)), 200);
    await expect(authed(http().get('/v1/models/mdl_missing/export')), 404);

    const cosine = await expect(
      authed(http().post('/v1/training-jobs')).send({
        datasetId: ids.datasetId,
        target: 'label',
        task: 'classification',
        model: { hidden: [{ units: 4, normalization: 'cosine' }] },
        training: { epochs: 1, seed: 1 },
      }),
      202,
    );
    await svc.waitForJob(cosine.body.jobId);
    const cosineModel = (await authed(http().get(`/v1/training-jobs/${cosine.body.jobId}`))).body.modelId as string;
    await expect(authed(http().get(`/v1/models/${cosineModel}/export`)), 422);
    ids.spareModelId = cosineModel;
  });

  test('model names: versions, aliases, history, deletion', async () => {
    ids.name = 'churn';
    ids.alias = 'production';
    const versions = '/v1/model-names/churn/versions';
    await expect(authed(http().post(versions)).send({ modelId: ids.modelId }), 201);
    await expect(authed(http().post(versions)).send({ jobId: ids.jobId }), 201);
    await expect(authed(http().post(versions)).send({ modelId: 'mdl_missing' }), 404);
    await expect(authed(http().post(versions)).send({ jobId: 'nope' }), 404);
    await expect(authed(http().post(versions)).send({ jobId: ids.cancelledJobId }), 409);
    await expect(authed(http().post(versions)).send({ modelId: ids.modelId, jobId: ids.jobId }), 400);
    await expect(authed(http().post(versions)).send({ modelId: 'x'.repeat(BODY_LIMIT) }), 413);
    await expect(authed(http().post(versions)).type('text/plain').send('{}'), 415);
    await expect(
      authed(http().post(`/v1/model-names/${'n'.repeat(100)}/versions`)).send({ modelId: ids.modelId }),
      400,
    );

    await expect(authed(http().get('/v1/model-names')), 200);
    await expect(authed(http().get('/v1/model-names?offset=-1')), 400);
    await expect(authed(http().get('/v1/model-names/churn')), 200);
    await expect(authed(http().get('/v1/model-names/nobody')), 404);
    await expect(authed(http().get('/v1/model-names/.bad')), 400);

    const alias = '/v1/model-names/churn/aliases/production';
    await expect(authed(http().put(alias)).send({ version: 1 }), 200);
    await expect(authed(http().put(alias)).send({ version: 2 }), 200);
    await expect(authed(http().put(alias)).send({ version: 99 }), 404);
    await expect(authed(http().put(alias)).send({ version: 'one' }), 400);
    await expect(authed(http().put(alias)).send({ version: 1, pad: 'x'.repeat(BODY_LIMIT) }), 413);
    await expect(authed(http().put(alias)).type('text/plain').send('{"version":1}'), 415);
    await expect(authed(http().put('/v1/model-names/nobody/aliases/production')).send({ version: 1 }), 404);
    await expect(authed(http().put(alias)).send({ version: 1 }), 200);
    await expect(authed(http().get('/v1/model-names/churn/history')), 200);
    await expect(authed(http().get('/v1/model-names/churn/history?limit=5000')), 400);
    await expect(authed(http().get('/v1/model-names/nobody/history')), 404);

    const predicted = await expect(
      authed(http().post('/v1/models/churn@production/predict')).send({ inputs: [[0.5, -0.5, 'blue']] }),
      200,
    );
    assert.equal(predicted.headers['x-model-id'], ids.modelId);
    await expect(authed(http().get('/v1/models/churn@staging')), 404);

    await expect(authed(http().put('/v1/model-names/churn/aliases/staging')).send({ version: 2 }), 200);
    await expect(authed(http().delete('/v1/model-names/churn/aliases/staging')), 204);
    await expect(authed(http().delete('/v1/model-names/churn/aliases/staging')), 404);
    await expect(authed(http().delete('/v1/model-names/churn/aliases/12')), 400);

    await expect(authed(http().delete(`/v1/models/${ids.modelId}`)), 409);
    await expect(authed(http().delete(`/v1/models/${ids.spareModelId}`)), 204);
    await expect(authed(http().delete(`/v1/models/${ids.spareModelId}`)), 404);
  });

  test('training jobs: list, delete a finished one', async () => {
    await expect(authed(http().get('/v1/training-jobs')), 200);
    const listed = await expect(
      authed(http().get(`/v1/training-jobs?state=completed&datasetId=${ids.datasetId}&limit=2`)),
      200,
    );
    assert.ok(listed.body.total >= 2, JSON.stringify(listed.body));
    await expect(authed(http().get('/v1/training-jobs?state=cancelled&offset=1')), 200);
    await expect(authed(http().get('/v1/training-jobs?state=running')), 400);
    // A completed job: DELETE removes it; its model stays (an alias still points to it).
    await expect(authed(http().delete(`/v1/training-jobs/${ids.jobId}`)), 204);
    await expect(authed(http().get(`/v1/training-jobs/${ids.jobId}`)), 404);
    await expect(authed(http().delete(`/v1/training-jobs/${ids.jobId}`)), 404);
    await expect(authed(http().get(`/v1/models/${ids.modelId}`)), 200);
  });

  test('open inference protocol (/v2)', async () => {
    ids.version = '1';
    await expect(authed(http().get('/v2')), 200);
    await expect(http().get('/v2/health/live'), 200);
    await expect(http().get('/v2/health/ready'), 200);
    await expect(authed(http().get('/v2/models/churn')), 200);
    await expect(authed(http().get(`/v2/models/${ids.modelId}`)), 200);
    await expect(authed(http().get('/v2/models/nobody')), 404);
    await expect(authed(http().get('/v2/models/churn/versions/1')), 200);
    await expect(authed(http().get('/v2/models/churn/versions/99')), 404);
    await expect(authed(http().get('/v2/models/churn/ready')), 200);
    await expect(authed(http().get('/v2/models/nobody/ready')), 404);
    await expect(authed(http().get('/v2/models/churn/versions/production/ready')), 200);
    await expect(authed(http().get('/v2/models/churn/versions/canary/ready')), 404);
    const inputs = [
      { name: 'a', shape: [1, 1], datatype: 'FP32', data: [0.5] },
      { name: 'b', shape: [1, 1], datatype: 'FP32', data: [-0.5] },
      { name: 'color', shape: [1, 1], datatype: 'BYTES', data: ['blue'] },
    ];
    for (const path of ['/v2/models/churn/infer', '/v2/models/churn/versions/1/infer']) {
      await expect(authed(http().post(path)).send({ inputs }), 200);
      await expect(authed(http().post(path)).send({ inputs: inputs.slice(1) }), 400);
      await expect(
        authed(http().post(path)).send({
          inputs: [{ name: 'a', shape: [1], datatype: 'FP32', data: ['x'.repeat(BODY_LIMIT)] }],
        }),
        413,
      );
      await expect(authed(http().post(path)).type('text/csv').send('a,b\n1,2\n'), 415);
    }
    await expect(authed(http().post('/v2/models/nobody/infer')).send({ inputs }), 404);
    await expect(authed(http().post('/v2/models/churn/versions/7/infer')).send({ inputs }), 404);
    await expect(authed(http().get('/v2/models/nobody/versions/1')), 404);
  });

  test('sweeps', async () => {
    const base = {
      datasetId: ids.datasetId,
      target: 'label',
      task: 'classification',
      training: { epochs: 1, seed: 1 },
    };
    const created = await expect(
      authed(http().post('/v1/sweeps')).send({ base, grid: { 'regularization.l2': [0, 0.01] } }),
      202,
    );
    ids.sweepId = created.body.sweepId;
    await expect(authed(http().post('/v1/sweeps')).send({ base, grid: {} }), 400);
    await expect(
      authed(http().post('/v1/sweeps')).send({ base, grid: { 'regularization.l2': Array(BODY_LIMIT / 2).fill(0) } }),
      413,
    );
    await expect(authed(http().post('/v1/sweeps')).type('text/csv').send('a,b\n1,2\n'), 415);
    await expect(
      authed(http().post('/v1/sweeps')).send({
        base: { ...base, datasetId: 'ds_missing' },
        grid: { 'regularization.l2': [0] },
      }),
      404,
    );
    await expect(authed(http().get(`/v1/sweeps/${ids.sweepId}`)), 200);
    await expect(authed(http().get('/v1/sweeps/nope')), 404);
    await expect(authed(http().get(`/v1/sweeps/${ids.sweepId}/curves.svg`)), 200);
    await expect(authed(http().get('/v1/sweeps/nope/curves.svg')), 404);
  });

  test('searches', async () => {
    const base = {
      datasetId: ids.datasetId,
      target: 'label',
      task: 'classification',
      training: { epochs: 1, seed: 1 },
    };
    const space = { 'regularization.l2': { type: 'choice', values: [0, 0.01] } };
    const searches = createSearchWorker(svc.config);
    try {
      const created = await expect(
        authed(http().post('/v1/searches'))
          .set('idempotency-key', 'contract-search')
          .send({ base, space, strategy: 'grid', budget: { maxTrials: 1 } }),
        202,
      );
      await expect(
        authed(http().post('/v1/searches'))
          .set('idempotency-key', 'contract-search')
          .send({ base, space, strategy: 'grid' }),
        422,
      );
      await expect(authed(http().post('/v1/searches')).send({ base, space: {} }), 400);
      await expect(
        authed(http().post('/v1/searches')).send({
          base,
          space: { 'regularization.l2': { type: 'choice', values: Array(BODY_LIMIT / 2).fill(0) } },
        }),
        413,
      );
      await expect(authed(http().post('/v1/searches')).type('text/csv').send('a,b\n1,2\n'), 415);
      await expect(
        authed(http().post('/v1/searches')).send({ base: { ...base, datasetId: 'ds_missing' }, space }),
        404,
      );
      await expect(authed(http().get('/v1/searches/nope')), 404);
      await expect(authed(http().delete('/v1/searches/nope')), 404);
      const id = created.body.searchId as string;
      let view = await expect(authed(http().get(`/v1/searches/${id}`)), 200);
      for (let i = 0; view.body.state === 'running' && i < 600; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        view = await expect(authed(http().get(`/v1/searches/${id}`)), 200);
      }
      assert.equal(view.body.state, 'completed', JSON.stringify(view.body));
      await expect(authed(http().delete(`/v1/searches/${id}`)), 409);
      await expect(authed(http().get(`/v1/searches/${id}/events`)), 200);
      await expect(authed(http().get(`/v1/searches/${id}/curves.svg`)), 200);
      await expect(authed(http().get('/v1/searches/nope/curves.svg')), 404);
      await expect(authed(http().get('/v1/searches/nope/events')), 404);
      const running = await expect(
        authed(http().post('/v1/searches')).send({ base: { ...base, training: { epochs: 500, seed: 1 } }, space }),
        202,
      );
      await expect(authed(http().delete(`/v1/searches/${running.body.searchId}`)), 202);
    } finally {
      await searches.close();
    }
  });

  test('every protected operation: 401 without a key, 414 for an overlong id, 400 for a bad URL', async () => {
    for (const operation of operations(document)) {
      if (operation.responses['401']) await expect(call(http(), operation, urlOf(operation)), 401);
      if (!operation.template.includes('{')) continue;
      if (operation.responses['414'])
        await expect(authed(call(http(), operation, urlOf(operation, 'x'.repeat(129)))), 414);
      await expect(authed(call(http(), operation, urlOf(operation, '%zz'))), 400);
    }
  });

  test('an open server documents no 401 and marks the key as optional', async () => {
    const open = await startApp({ RATE_LIMIT_MAX: '0' });
    for (const operation of operations(open.document)) {
      assert.equal(
        operation.responses['401'],
        undefined,
        `${operation.method} ${operation.template} documents a 401 on an open server`,
      );
      const security = (operation as { security?: unknown[] }).security;
      if (security)
        assert.ok(
          security.some((s) => Object.keys(s as object).length === 0),
          `${operation.method} ${operation.template}: key not optional`,
        );
    }
    await expect(open.http.get('/v1/models'), 200, open.contract);
  });

  test('every rate-limited operation: 429 with Retry-After once the budget is spent', async () => {
    const limited = await startApp({ API_KEYS: KEY, RATE_LIMIT_MAX: '1' });
    await expect(limited.http.get('/v1/models').set('authorization', BEARER), 200, limited.contract);
    for (const operation of operations(limited.document)) {
      if (!operation.responses['429']) continue;
      const res = await expect(
        call(limited.http, operation, urlOf(operation)).set('authorization', BEARER),
        429,
        limited.contract,
      );
      assert.ok(res.headers['retry-after'], 'Retry-After');
      contract.seen.add(`${operation.method} ${operation.template} 429`);
    }
  });

  test('every /v1 operation and /v2 model operation: 503 with Retry-After while Redis is away', async () => {
    // A Redis of this test's own, stopped before the app starts and started again before it closes.
    const redis = await PrivateRedis.start();
    await redis.kill();
    const away = await startApp({ REDIS_URL: redis.url, RATE_LIMIT_MAX: '0' });
    await expect(away.http.get('/readyz'), 503, away.contract);
    contract.seen.add('GET /readyz 503');
    await expect(away.http.get('/v2/health/ready'), 400, away.contract);
    contract.seen.add('GET /v2/health/ready 400');
    for (const operation of operations(away.document)) {
      if (!/^\/v[12]\/models|^\/v1\//.test(operation.template)) continue;
      const bodies: Record<string, () => supertest.Test> = {
        'POST /v1/datasets': () => away.http.post('/v1/datasets').type('text/csv').send('a,b\n1,2\n3,4\n'),
        'POST /v1/training-jobs': () =>
          away.http.post('/v1/training-jobs').send({ datasetId: 'ds_x', target: 'y', task: 'regression' }),
        'POST /v1/sweeps': () =>
          away.http
            .post('/v1/sweeps')
            .send({ base: { datasetId: 'ds_x', target: 'y', task: 'regression' }, grid: { 'regularization.l2': [0] } }),
        'POST /v1/searches': () =>
          away.http.post('/v1/searches').send({
            base: { datasetId: 'ds_x', target: 'y', task: 'regression' },
            space: { 'regularization.l2': { type: 'choice', values: [0] } },
          }),
        'POST /v1/models/{modelId}/predict': () => away.http.post(urlOf(operation)).send({ inputs: [[1]] }),
        'POST /v1/model-names/{name}/versions': () => away.http.post(urlOf(operation)).send({ modelId: 'mdl_x' }),
        'PUT /v1/model-names/{name}/aliases/{alias}': () => away.http.put(urlOf(operation)).send({ version: 1 }),
        'POST /v2/models/{name}/infer': () =>
          away.http.post(urlOf(operation)).send({ inputs: [{ name: 'a', shape: [1], datatype: 'FP32', data: [1] }] }),
        'POST /v2/models/{name}/versions/{version}/infer': () =>
          away.http.post(urlOf(operation)).send({ inputs: [{ name: 'a', shape: [1], datatype: 'FP32', data: [1] }] }),
      };
      const send =
        bodies[`${operation.method} ${operation.template}`] ?? (() => call(away.http, operation, urlOf(operation)));
      const res = await expect(send(), 503, away.contract);
      assert.ok(res.headers['retry-after'], `${operation.method} ${operation.template}: Retry-After`);
      contract.seen.add(`${operation.method} ${operation.template} 503`);
    }
    await redis.restart();
    extraApps.splice(extraApps.indexOf(away.app), 1);
    extraConfigs.splice(extraConfigs.indexOf(away.config), 1);
    await away.app.close();
    await deletePrefix(away.config);
    await redis.close();
  });

  test('every operation that stores something: 507 STORAGE_FULL while Redis is full', async () => {
    const redis = await PrivateRedis.start(['--maxmemory-policy', 'noeviction']);
    const full = await startApp({ REDIS_URL: redis.url, API_KEYS: KEY, RATE_LIMIT_MAX: '0' });
    await waitForReady(full.http);
    const upload = await full.http
      .post('/v1/datasets')
      .set('authorization', BEARER)
      .type('text/csv')
      .send('a,y\n1,2\n3,4\n5,6\n7,8\n');
    assert.equal(upload.status, 201);
    const request = { datasetId: upload.body.id, target: 'y', task: 'regression' };
    const queued = await full.http.post('/v1/training-jobs').set('authorization', BEARER).send(request);
    assert.equal(queued.status, 202);
    // Over maxmemory for good: half of what Redis holds.
    const probe = new IORedis(redis.url);
    const used = Number(/used_memory:(\d+)/.exec(await probe.info('memory'))![1]);
    await probe.config('SET', 'maxmemory', String(Math.floor(used / 2)));
    const sends: Record<string, () => supertest.Test> = {
      'POST /v1/datasets': () => full.http.post('/v1/datasets').type('text/csv').send('a,b\n1,2\n3,4\n'),
      'POST /v1/training-jobs': () => full.http.post('/v1/training-jobs').send(request),
      'DELETE /v1/training-jobs/{jobId}': () => full.http.delete(`/v1/training-jobs/${queued.body.jobId}`),
      'POST /v1/sweeps': () =>
        full.http.post('/v1/sweeps').send({ base: request, grid: { 'regularization.l2': [0, 0.1] } }),
    };
    const documented = operations(full.document).filter((operation) => operation.responses['507']);
    assert.deepEqual(documented.map((o) => `${o.method} ${o.template}`).sort(), Object.keys(sends).sort());
    for (const [operation, send] of Object.entries(sends)) {
      const res = await expect(send().set('authorization', BEARER), 507, full.contract);
      assert.equal(res.body.error.code, 'STORAGE_FULL', operation);
      contract.seen.add(`${operation} 507`);
    }
    probe.disconnect();
    extraApps.splice(extraApps.indexOf(full.app), 1);
    extraConfigs.splice(extraConfigs.indexOf(full.config), 1);
    await full.app.close();
    await redis.close();
  });

  test('every operation but the probes and metrics: 503 with Retry-After when the server is overloaded', async () => {
    // 1 MiB of heap: any Node process is over it, so the first one-second sample reports pressure.
    const busy = await startApp({
      OVERLOAD_MAX_HEAP_USED_BYTES: String(1 << 20),
      OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    });
    const deadline = Date.now() + 5_000;
    while ((await busy.http.get('/v1/models')).status !== 503) {
      if (Date.now() > deadline) throw new Error('no overload within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const operation of operations(busy.document)) {
      if (['/healthz', '/readyz', '/metrics', '/v2/health/live', '/v2/health/ready'].includes(operation.template)) {
        assert.equal(operation.responses['503'] === undefined, operation.template !== '/readyz', operation.template);
        continue;
      }
      const res = await expect(call(busy.http, operation, urlOf(operation)), 503, busy.contract);
      // The Open Inference Protocol's error body is a message, not a code.
      if (operation.template.startsWith('/v2')) assert.match(res.body.error, /overloaded/);
      else assert.equal(res.body.error.code, 'OVERLOADED');
      contract.seen.add(`${operation.method} ${operation.template} 503`);
    }
  });

  test('a request body sent too slowly: 408 on every operation that takes one', async () => {
    const slow = await startApp({ REQUEST_TIMEOUT_MS: '500', RATE_LIMIT_MAX: '0' });
    await slow.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = slow.app.server.address() as net.AddressInfo;
    const bodyOperations = operations(slow.document).filter((operation) => operation.requestBody);
    assert.ok(bodyOperations.length >= 4);
    await Promise.all(
      bodyOperations.map(async (operation) => {
        const path = urlOf(operation);
        const raw = await new Promise<string>((resolve) => {
          let received = '';
          const socket = net.connect({ port, host: '127.0.0.1' }, () =>
            socket.write(
              `${operation.method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a":`,
            ),
          );
          socket.on('data', (chunk) => (received += chunk));
          socket.on('close', () => resolve(received));
          socket.on('error', () => undefined);
        });
        const [head, text = ''] = raw.split('\r\n\r\n');
        const [statusLine, ...lines] = head.split('\r\n');
        const headers = Object.fromEntries(
          lines.map((line) => [
            line.slice(0, line.indexOf(':')).toLowerCase(),
            line.slice(line.indexOf(':') + 1).trim(),
          ]),
        );
        const res: HttpResponse = {
          status: Number(statusLine.split(' ')[1]),
          headers,
          text,
          req: { method: operation.method, path },
        };
        slow.contract.check(res);
        assert.equal(res.status, 408, raw);
        contract.seen.add(`${operation.method} ${operation.template} 408`);
      }),
    );
  });

  test('every status the document promises was seen', () => {
    const missing: string[] = [];
    for (const operation of operations(document)) {
      for (const status of Object.keys(operation.responses)) {
        if (UNREACHABLE.has(status)) continue;
        if (!contract.seen.has(`${operation.method} ${operation.template} ${status}`))
          missing.push(`${operation.method} ${operation.template} ${status}`);
      }
    }
    assert.deepEqual(missing, [], `documented but never seen:\n${missing.join('\n')}`);
  });
});
