import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import { xorCsv } from '../helpers/app';
import { testConfig } from '../helpers/config';
import { PrivateRedis } from '../helpers/private-redis';
import { waitForReady } from '../helpers/ready';
import { trainStoredModel } from '../serving/stored-model';

/**
 * Longest the test keeps Redis frozen while requests are out; then it thaws it anyway. Below the
 * stores' 15 s command timeout (COMMAND_TIMEOUT_MS), so a route bounded only by that timeout (as
 * the dataset and model routes were) answers after the thaw and fails the test; the watchdog's
 * 503 comes about half a second after the freeze (UNRESPONSIVE_AFTER_MS).
 */
const THAW_AFTER_MS = 12_000;

/**
 * Every answer of a round must come within this: far above the watchdog's ~0.5 s, so a loaded
 * machine does not fail the test, yet a route that waits on Redis other than through the watchdog
 * (a readiness PING, the queue counts of /metrics, a timeout of its own) fails it once that wait
 * is longer.
 */
const ANSWER_LIMIT_MS = 5_000;

/** Routes whose answer needs no Redis: they must keep answering as usual during a freeze. */
const NO_REDIS = new Set(['/healthz', '/v2/health/live', '/v2']);

/** The dashboard's HTML pages (its API, under /api/, reads the queue). */
function isDashboardPage(url: string): boolean {
  return url.startsWith('/admin/queues') && !url.startsWith('/admin/queues/api/');
}

interface Route {
  method: string;
  url: string;
}

/**
 * Every route the app has, sent while Redis is frozen (SIGSTOP): each must answer before the thaw
 * (no wait on the 15 s command timeout, nor forever on the queue's connection), with 503 where it
 * needs Redis, and a cached model must keep predicting. Two rounds: requests sent right as Redis
 * freezes (in flight when it stops answering: the guard's 503) and requests sent once the freeze
 * is known (the onRequest refusal).
 */
describe('a frozen Redis: every route answers before the thaw (503 where it needs Redis)', () => {
  let redis: PrivateRedis;
  let app: FastifyInstance;
  let http: ReturnType<typeof supertest>;
  const routes: Route[] = [];
  let datasetId = '';
  let modelId = '';
  const config = testConfig();

  before(async () => {
    redis = await PrivateRedis.start();
    config.redisUrl = redis.url;
    app = await buildApp(config, {
      onRoute: (route) => {
        for (const method of [route.method].flat()) {
          if (method !== 'HEAD' && method !== 'OPTIONS') routes.push({ method, url: route.url });
        }
      },
    });
    await app.ready();
    http = supertest(app.server);
    await waitForReady(http);
    const upload = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    assert.equal(upload.status, 201);
    datasetId = upload.body.id;
    const model = await trainStoredModel(xorCsv(60), {
      target: 'label',
      task: 'classification',
      training: { epochs: 1, seed: 1 },
    });
    await app.models.save(model.meta, model.frozen);
    modelId = model.meta.id;
  });
  after(async () => {
    if (redis.running) redis.thaw();
    await app.close();
    await redis.close();
  });

  /** A concrete URL for a route: its parameters filled with the test's dataset and model. */
  function concrete(url: string): string {
    return url
      .replace(':datasetId', datasetId)
      .replace(':modelId', modelId)
      .replace(/:[A-Za-z]+/g, 'x')
      .replace('*', 'x');
  }

  function send(route: Route): supertest.Test {
    const url = concrete(route.url);
    const request = http[route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete' | 'patch'](url);
    if (route.method === 'POST' && route.url === '/v1/datasets') {
      return request.set('content-type', 'text/csv').send(xorCsv(30));
    }
    if (route.url.endsWith('/predict')) return request.send({ rows: [{ a: 0.1, b: 0.2, color: 'red' }] });
    if (route.method === 'POST' || route.method === 'PUT' || route.method === 'PATCH') return request.send({});
    return request;
  }

  /** Sends every route while Redis is frozen; the answers, and whether each came before the thaw. */
  async function roundWhileFrozen(list: Route[]) {
    let thawed = false;
    const guard = setTimeout(() => {
      thawed = true;
      redis.thaw();
    }, THAW_AFTER_MS);
    try {
      return await Promise.all(
        list.map(async (route) => {
          // SSE routes stream until closed: a 503 answers them, a 200 would only be headers.
          const sent = performance.now();
          const res = await send(route).buffer(true).timeout({ deadline: 30_000 });
          return { route, status: res.status, beforeThaw: !thawed, ms: performance.now() - sent };
        }),
      );
    } finally {
      clearTimeout(guard);
    }
  }

  test('each route answers while frozen: 503 (Retry-After) where Redis is needed, a cached model still predicts', async () => {
    // The model is cached: its predictions need no Redis.
    const cachedUrls = new Set([`/v1/models/${modelId}/predict`, `/v1/models/${modelId}/export`]);
    assert.equal((await send({ method: 'POST', url: '/v1/models/:modelId/predict' })).status, 200);
    const list = routes.filter((r) => !r.url.startsWith('/docs') && !r.url.startsWith('/admin/queues/static'));
    assert.ok(list.length > 30, `the app's routes were collected (${list.length})`);

    redis.freeze();
    const inFlight = await roundWhileFrozen(list.filter((r) => r.method === 'GET'));
    const known = await roundWhileFrozen(list);
    if (redis.running) redis.thaw();

    for (const [round, answers] of [
      ['in flight at the freeze', inFlight],
      ['once the freeze is known', known],
    ] as const) {
      const slowest = answers.reduce((a, b) => (b.ms > a.ms ? b : a));
      console.log(
        `${round}: ${answers.length} requests, slowest ${slowest.ms.toFixed(0)} ms (${slowest.route.method} ${slowest.route.url})`,
      );
    }
    for (const answer of [...inFlight, ...known]) {
      const name = `${answer.route.method} ${answer.route.url}`;
      assert.ok(answer.beforeThaw, `${name} answered while Redis was frozen (not after the thaw)`);
      assert.ok(answer.ms < ANSWER_LIMIT_MS, `${name} answered in ${answer.ms.toFixed(0)} ms`);
      assert.ok(answer.status < 500 || answer.status === 503, `${name}: ${answer.status}`);
    }
    for (const answer of known) {
      const name = `${answer.route.method} ${answer.route.url}`;
      const url = concrete(answer.route.url);
      if (NO_REDIS.has(answer.route.url) || cachedUrls.has(url)) {
        assert.equal(answer.status, 200, `${name} needs no Redis (the model is cached)`);
      } else if (answer.route.url === '/metrics' || isDashboardPage(answer.route.url)) {
        assert.equal(answer.status, 200, `${name}: the page itself needs no Redis`);
      } else if (answer.route.url.startsWith('/admin/queues/api/') && answer.route.method !== 'GET') {
        assert.equal(answer.status, 403, `${name}: the dashboard is read-only without admin keys`);
      } else if (answer.route.url.endsWith('/infer')) {
        // Not refused up front (it waits on Redis only when it must): the empty body is a 400 first.
        assert.equal(answer.status, 400, `${name}: the invalid body is refused without Redis`);
      } else if (answer.route.url === '/v2/health/ready') {
        assert.equal(answer.status, 400, 'not ready: the protocol says 400');
      } else if (answer.route.url !== '/openapi.json') {
        assert.equal(answer.status, 503, `${name} needs Redis: 503 while it is frozen`);
      }
    }

    // And nothing stayed broken: a dataset read answers 200 again after SIGCONT.
    const deadline = Date.now() + 60_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await http.get(`/v1/datasets/${datasetId}`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, 'the dataset route recovers after SIGCONT');
  });
});
