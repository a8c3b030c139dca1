import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueueEvents, type Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { Redis as IORedis } from 'ioredis';
import { buildApp } from '../../src/app';
import { checkRedisSettings } from '../../src/store/redis-settings';
import { TRAINING_QUEUE } from '../../jobs/training-queue';
import { createTrainingWorker } from '../../jobs/training-worker';
import { xorCsv } from '../helpers/app';
import { testConfig } from '../helpers/config';
import { PrivateRedis } from '../helpers/private-redis';

/**
 * The API while its Redis is away: a private redis-server is killed (SIGKILL, like a crash) and
 * later shut down (SHUTDOWN NOSAVE); every route that needs Redis must answer 503 with
 * Retry-After at once, /readyz must fail, /healthz and predictions from cached models must keep
 * working, and nothing may crash. When Redis returns, everything must recover by itself: new
 * uploads and jobs succeed and a job queued after recovery is trained by a real worker.
 */
const KEY = 'outage-test-key-0123456789abcdef';
const auth = { authorization: `Bearer ${KEY}` };

/** A generous bound for "at once": a 503 takes milliseconds; a hanging request takes forever. */
const QUICK_MS = 1_000;

/**
 * The worker and the event listener the test waits on reconnect within half a second, not
 * BullMQ's default backoff of up to 20 s, so recovery is quick to observe. (They are set up here
 * rather than with startService for this reason, and for the close below.)
 */
const fastReconnect = (url: string) => ({
  url,
  maxRetriesPerRequest: null,
  retryStrategy: (times: number) => Math.min(times * 100, 500),
});

interface OutageService {
  app: FastifyInstance;
  http: ReturnType<typeof supertest>;
  worker: Worker;
  events: QueueEvents;
  waitForJob(jobId: string): Promise<unknown>;
  close(): Promise<void>;
}

async function startOutageService(redisUrl: string): Promise<OutageService> {
  const config = testConfig({ REDIS_URL: redisUrl, API_KEYS: KEY });
  const app = await buildApp(config);
  await app.ready();
  const worker = createTrainingWorker(config, { connection: fastReconnect(redisUrl) });
  const events = new QueueEvents(TRAINING_QUEUE, { connection: fastReconnect(redisUrl), prefix: config.redisPrefix });
  // Connection errors during the outage are expected; without listeners they would be printed.
  worker.on('error', () => undefined);
  events.on('error', () => undefined);
  await Promise.all([worker.waitUntilReady(), events.waitUntilReady()]);
  return {
    app,
    http: supertest(app.server),
    worker,
    events,
    async waitForJob(jobId) {
      const job = await app.trainingQueue.getJob(jobId);
      if (!job) throw new Error(`no job ${jobId}`);
      return job.waitUntilFinished(events, 60_000);
    },
    async close() {
      // BullMQ 6.7's close waits for an 'end' event that ioredis never emits when a client is
      // disconnected while it waits to reconnect (as after an outage), so the worker (no job
      // left) is closed with force and the event listener with a bound.
      await worker.close(true);
      await Promise.race([events.close(), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
      await app.close();
    },
  };
}

describe('Redis outage (API side)', () => {
  let redis: PrivateRedis;
  let svc: OutageService;
  let datasetId: string;
  let jobId: string;
  let modelId: string;
  let cachedPrediction: unknown;
  const rows = [
    { a: 0.5, b: 0.5, color: 'red' },
    { a: -0.5, b: 0.5, color: 'blue' },
  ];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    redis = await PrivateRedis.start();
    svc = await startOutageService(redis.url);

    const upload = await svc.http.post('/v1/datasets').set(auth).set('content-type', 'text/csv').send(xorCsv(80));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    datasetId = upload.body.id;
    const queued = await svc.http
      .post('/v1/training-jobs')
      .set(auth)
      .send({ datasetId, target: 'label', task: 'classification', training: { epochs: 2, seed: 3 } });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    jobId = queued.body.jobId;
    await svc.waitForJob(jobId);
    modelId = (await svc.http.get(`/v1/training-jobs/${jobId}`).set(auth)).body.modelId;
    assert.ok(modelId, 'the job produced a model');
    // Loads the model into the API's ModelCache.
    const predicted = await svc.http.post(`/v1/models/${modelId}/predict`).set(auth).send({ rows });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    cachedPrediction = predicted.body;
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    if (!redis.running) await redis.restart();
    await svc?.close();
    await redis?.close();
  });

  /** Every route that needs Redis, with a request that would succeed if Redis were there. */
  function redisRoutes(): {
    name: string;
    send: () => PromiseLike<{
      status: number;
      headers: Record<string, string>;
      body: { error?: { code: string; message: string } };
    }>;
  }[] {
    const routes = [
      {
        name: 'POST /v1/datasets (CSV)',
        send: () => svc.http.post('/v1/datasets').set(auth).set('content-type', 'text/csv').send(xorCsv(10)),
      },
      {
        name: 'POST /v1/datasets (JSON)',
        send: () =>
          svc.http
            .post('/v1/datasets')
            .set(auth)
            .send({ rows: [{ x: 1 }, { x: 2 }] }),
      },
      { name: 'GET /v1/datasets/:id', send: () => svc.http.get(`/v1/datasets/${datasetId}`).set(auth) },
      {
        name: 'POST /v1/training-jobs',
        send: () =>
          svc.http.post('/v1/training-jobs').set(auth).send({ datasetId, target: 'label', task: 'classification' }),
      },
      {
        name: 'POST /v1/training-jobs with Idempotency-Key',
        send: () =>
          svc.http
            .post('/v1/training-jobs')
            .set(auth)
            .set('idempotency-key', 'outage-1')
            .send({ datasetId, target: 'label', task: 'classification' }),
      },
      { name: 'GET /v1/training-jobs/:id', send: () => svc.http.get(`/v1/training-jobs/${jobId}`).set(auth) },
      { name: 'GET /v1/models', send: () => svc.http.get('/v1/models').set(auth) },
      { name: 'GET /v1/models/:id', send: () => svc.http.get(`/v1/models/${modelId}`).set(auth) },
      {
        name: 'POST predict, model not in the cache',
        send: () => svc.http.post('/v1/models/mdl_not_cached/predict').set(auth).send({ rows }),
      },
    ];
    if (svc.app.hasRoute({ method: 'DELETE', url: '/v1/training-jobs/:jobId' })) {
      routes.push({
        name: 'DELETE /v1/training-jobs/:id',
        send: () => svc.http.delete(`/v1/training-jobs/${jobId}`).set(auth),
      });
    }
    return routes;
  }

  async function expectOutageAnswers(): Promise<number> {
    let slowest = 0;
    for (const route of redisRoutes()) {
      const started = Date.now();
      const res = await route.send();
      const took = Date.now() - started;
      slowest = Math.max(slowest, took);
      assert.equal(res.status, 503, `${route.name}: ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error?.code, 'REDIS_UNAVAILABLE', route.name);
      assert.match(res.body.error?.message ?? '', /Redis.*unavailable.*retry/i, route.name);
      assert.ok(Number(res.headers['retry-after']) > 0, `${route.name}: Retry-After ${res.headers['retry-after']}`);
      assert.ok(took < QUICK_MS, `${route.name} took ${took} ms`);
    }

    const readyStarted = Date.now();
    const ready = await svc.http.get('/readyz');
    assert.equal(ready.status, 503);
    assert.equal(ready.body.status, 'unavailable');
    assert.ok(ready.headers['retry-after']);
    assert.ok(Date.now() - readyStarted < 1_500, '/readyz answers within its own 1 s timeout');

    const health = await svc.http.get('/healthz');
    assert.equal(health.status, 200);

    // A model already in memory keeps serving, with the same answers as before the outage.
    const predicted = await svc.http.post(`/v1/models/${modelId}/predict`).set(auth).send({ rows });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
    assert.deepEqual(predicted.body, cachedPrediction);
    // Bad input is still a 400, not a 503: validation needs no Redis.
    const bad = await svc.http
      .post(`/v1/models/${modelId}/predict`)
      .set(auth)
      .send({ rows: [{ a: 'x' }] });
    assert.equal(bad.status, 400);
    return slowest;
  }

  async function waitUntilReady(timeoutMs: number): Promise<number> {
    const started = Date.now();
    while (Date.now() - started < timeoutMs) {
      if ((await svc.http.get('/readyz')).status === 200) return Date.now() - started;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`not ready ${timeoutMs} ms after Redis returned`);
  }

  test('killed Redis: 503 + Retry-After at once, /readyz fails, /healthz and cached predictions work', async () => {
    await redis.kill();
    const slowest = await expectOutageAnswers();
    // Three more times a second apart: the answers stay quick while the clients keep trying to
    // reconnect (an outage over 3 s also outlasts BullMQ's default reconnect backoff, which would
    // keep the queue away for seconds after Redis returns).
    for (let i = 0; i < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await expectOutageAnswers();
    }
    assert.ok(slowest < QUICK_MS);
  });

  test('Redis back: everything recovers by itself and a new job completes on the real worker', async () => {
    await redis.restart();
    await waitUntilReady(10_000);
    // The private Redis keeps no data across restarts (no AOF here), so start over.
    const upload = await svc.http.post('/v1/datasets').set(auth).set('content-type', 'text/csv').send(xorCsv(80));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const queued = await svc.http
      .post('/v1/training-jobs')
      .set(auth)
      .set('idempotency-key', 'after-recovery')
      .send({ datasetId: upload.body.id, target: 'label', task: 'classification', training: { epochs: 2, seed: 4 } });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`).set(auth);
    assert.equal(job.status, 200);
    assert.equal(job.body.state, 'completed');
    const predicted = await svc.http.post(`/v1/models/${job.body.modelId}/predict`).set(auth).send({ rows });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
  });

  test('SHUTDOWN NOSAVE: the same, and recovery again', async () => {
    await redis.shutdown();
    await expectOutageAnswers();
    await redis.restart();
    await waitUntilReady(10_000);
    const upload = await svc.http
      .post('/v1/datasets')
      .set(auth)
      .send({ rows: [{ x: 1 }, { x: 2 }] });
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const models = await svc.http.get('/v1/models').set(auth);
    assert.equal(models.status, 200);
  });

  test('no unhandled rejections, and the process is alive', async () => {
    assert.deepEqual(unhandled, []);
    assert.equal((await svc.http.get('/healthz')).status, 200);
  });
});

/** The start-up check of the Redis settings that decide whether acknowledged jobs survive. */
describe('Redis settings check', () => {
  async function warningsFor(args: string[]): Promise<{ warnings: string[]; infos: string[] }> {
    const redis = await PrivateRedis.start(args);
    const client = new IORedis(redis.url);
    try {
      const infos: string[] = [];
      const logged: string[] = [];
      const warnings = await checkRedisSettings(client, { warn: (m) => logged.push(m), info: (m) => infos.push(m) });
      assert.deepEqual(logged, warnings);
      return { warnings, infos };
    } finally {
      client.disconnect();
      await redis.close();
    }
  }

  test('warns about an evicting maxmemory-policy and a missing append-only file', async () => {
    const { warnings } = await warningsFor(['--maxmemory-policy', 'allkeys-lru']);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0], /maxmemory-policy is "allkeys-lru", not "noeviction"/);
    assert.match(warnings[1], /without the append-only file .* appendonly yes/);
  });

  test('is quiet with noeviction and appendonly yes', async () => {
    const { warnings, infos } = await warningsFor(['--maxmemory-policy', 'noeviction', '--appendonly', 'yes']);
    assert.deepEqual(warnings, []);
    assert.deepEqual(infos, []);
  });

  test('tolerates CONFIG being disabled (as on managed Redis)', async () => {
    const { warnings, infos } = await warningsFor(['--rename-command', 'CONFIG', '']);
    assert.deepEqual(warnings, []);
    assert.match(infos[0], /could not read the Redis configuration .*noeviction.*appendonly yes/);
  });
});

describe('API started before Redis', () => {
  test('answers 503 (and /healthz 200) until Redis appears, then serves', async () => {
    const redis = await PrivateRedis.start();
    await redis.kill();
    const app = await buildApp(testConfig({ REDIS_URL: redis.url, API_KEYS: KEY }));
    try {
      await app.ready();
      const headers = { authorization: `Bearer ${KEY}` };
      assert.equal((await app.inject('/healthz')).statusCode, 200);
      assert.equal((await app.inject('/readyz')).statusCode, 503);
      const down = await app.inject({ url: '/v1/models', headers });
      assert.equal(down.statusCode, 503);
      assert.equal(down.headers['retry-after'], '5');
      // Routes that read the queues too: BullMQ waits for its first connection without a timeout,
      // so these would hang (until the client gives up) rather than answer.
      for (const [method, url] of [
        ['GET', '/v1/training-jobs/j1'],
        ['DELETE', '/v1/training-jobs/j1'],
        ['GET', '/v1/training-jobs/j1/events'],
        ['GET', '/v1/training-jobs/j1/curves.svg'],
        ['GET', '/v1/training-jobs/j1/report'],
        ['GET', '/v1/sweeps/s1'],
        ['GET', '/v1/sweeps/s1/curves.svg'],
      ] as const) {
        const started = Date.now();
        const res = await Promise.race([
          app.inject({ method, url, headers }),
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 5_000).unref()),
        ]);
        assert.ok(res, `${method} ${url} did not answer within 5 s`);
        assert.equal(res.statusCode, 503, `${method} ${url}: ${res.body}`);
        assert.equal(res.json().error.code, 'REDIS_UNAVAILABLE');
        assert.equal(res.headers['retry-after'], '5', `${method} ${url}`);
        assert.ok(Date.now() - started < QUICK_MS, `${method} ${url} took ${Date.now() - started} ms`);
      }

      await redis.restart();
      const deadline = Date.now() + 10_000;
      while ((await app.inject({ url: '/v1/models', headers })).statusCode !== 200) {
        if (Date.now() > deadline) throw new Error('the API did not connect to Redis within 10 s');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal((await app.inject('/readyz')).statusCode, 200);
    } finally {
      await app.close();
      await redis.close();
    }
  });
});
