import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import {
  MAX_UNRESPONSIVE_AFTER_MS,
  RedisWatchdog,
  UNRESPONSIVE_AFTER_MS,
  unresponsiveAfterMs,
  watchdogFor,
} from '../../src/http/redis-watchdog';
import { createRedis } from '../../src/store/redis';
import { xorCsv } from '../helpers/app';
import { testConfig } from '../helpers/config';
import { PrivateRedis } from '../helpers/private-redis';
import { waitForReady } from '../helpers/ready';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Longest the test keeps Redis frozen while it waits for an answer; then it thaws it anyway. */
const GUARD_MS = 60_000;

/** The in-flight round: Redis stays frozen this long, and every answer must come within IN_FLIGHT_LIMIT_MS. */
const IN_FLIGHT_FREEZE_MS = 10_000;
/**
 * Far above the watchdog's ~0.5 s (UNRESPONSIVE_AFTER_MS), so a loaded machine does not fail the
 * test; far below the thaw, so an answer that waited for it does.
 */
const IN_FLIGHT_LIMIT_MS = 5_000;

/**
 * A frozen Redis (SIGSTOP: connections open, nothing answered) must not hang the job routes: the
 * queue's connection has no command timeout, so before the watchdog a GET of a job answered only
 * after SIGCONT. Now it answers 503 while Redis is still frozen — a request sent right after the
 * freeze (in flight when Redis stopped answering) and a new one alike — and recovers after SIGCONT.
 */
describe('a frozen Redis: the job routes answer 503 while frozen and recover after SIGCONT', () => {
  let redis: PrivateRedis;
  let app: FastifyInstance;
  let http: ReturnType<typeof supertest>;
  const config = testConfig();

  /** Requests the app has seen: whether Redis counted as answering when each arrived, and whether it is answered. */
  const seen = new Map<string, { url: string; arrivedResponsive: boolean; sent: boolean }>();

  before(async () => {
    redis = await PrivateRedis.start();
    config.redisUrl = redis.url;
    app = await buildApp(config);
    // Global hooks, so they run before each route's own (requireRedis) and first on send.
    app.addHook('onRequest', (request, _reply, done) => {
      const arrivedResponsive = watchdogFor(app.redis).responsive;
      seen.set(request.id, { url: request.url, arrivedResponsive, sent: false });
      done();
    });
    app.addHook('onSend', (request, _reply, payload, done) => {
      const entry = seen.get(request.id);
      if (entry) entry.sent = true;
      done(null, payload);
    });
    await app.ready();
    http = supertest(app.server);
    await waitForReady(http);
  });
  after(async () => {
    if (redis.running) redis.thaw();
    await app.close();
    await redis.close();
  });

  /** Sends while Redis is frozen; resolves with the answer and whether it came before the thaw. */
  async function whileFrozen(
    request: () => supertest.Test,
  ): Promise<{ status: number; beforeThaw: boolean; body: unknown }> {
    let thawed = false;
    const guard = setTimeout(() => {
      thawed = true;
      redis.thaw();
    }, GUARD_MS);
    try {
      const res = await request();
      return { status: res.status, beforeThaw: !thawed, body: res.body };
    } finally {
      clearTimeout(guard);
    }
  }

  test('GET /v1/training-jobs/:id and /events: 503 + Retry-After during the freeze, 200 after', async () => {
    const upload = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    assert.equal(upload.status, 201);
    const queued = await http
      .post('/v1/training-jobs')
      .send({ datasetId: upload.body.id, target: 'label', task: 'classification' });
    assert.equal(queued.status, 202);
    const url = `/v1/training-jobs/${queued.body.jobId}`;
    assert.equal((await http.get(url)).status, 200);

    redis.freeze();
    // Sent at once: in flight when Redis stops answering.
    const inFlight = await whileFrozen(() => http.get(url));
    assert.equal(inFlight.status, 503, JSON.stringify(inFlight.body));
    assert.ok(inFlight.beforeThaw, 'answered while Redis was still frozen, not after SIGCONT');
    // And a new request once the freeze is known.
    const next = await whileFrozen(() => http.get(url));
    assert.equal(next.status, 503);
    assert.ok(next.beforeThaw);
    const report = await whileFrozen(() => http.get(`${url}/report`));
    assert.equal(report.status, 503);
    assert.ok(report.beforeThaw);
    if (redis.running) redis.thaw();

    // Recovery by itself: the same route answers 200 again.
    const deadline = Date.now() + 60_000;
    let status = 0;
    while (status !== 200 && Date.now() < deadline) {
      status = (await http.get(url)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 200, 'the job route recovers after SIGCONT');
  });
  test('requests in flight when Redis freezes get their 503 the moment the watchdog notices, long before the thaw', async () => {
    const upload = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    assert.equal(upload.status, 201);
    const queued = await http
      .post('/v1/training-jobs')
      .send({ datasetId: upload.body.id, target: 'label', task: 'classification' });
    assert.equal(queued.status, 202);
    const job = `/v1/training-jobs/${queued.body.jobId}`;
    await waitForReady(http); // the previous test's thaw is over
    // A route of each family whose answer needs Redis, reads of the queue's connection (no
    // command timeout) and of the stores' (a 15 s one) alike, and the probes.
    const urls = [
      job,
      `${job}/report`,
      `${job}/curves.svg`,
      `${job}/events`,
      '/v1/training-jobs/job_unknown',
      '/v1/sweeps/sw_unknown',
      '/v1/searches/se_unknown',
      `/v1/datasets/${upload.body.id}`,
      '/v1/datasets',
      '/v1/models',
      '/v1/models/mdl_unknown',
      '/v1/model-names',
      '/v1/batch-predictions/bp_unknown',
      '/v2/models/unknown',
      '/v1/models/mdl_unknown/export',
      'POST /v1/models/mdl_unknown/predict', // a model not cached: its load waits on Redis
      '/readyz',
      '/metrics',
    ];
    const watchdog = watchdogFor(app.redis);
    assert.ok(watchdog.responsive);
    seen.clear();

    // The moment this process first sees the watchdog unresponsive (polled every 5 ms), which of
    // the requests that arrived while Redis still counted as answering were unanswered.
    let unansweredAtDetection: string[] | undefined;
    let detectedMs = NaN;
    const frozenAt = performance.now();
    const poll = setInterval(() => {
      if (unansweredAtDetection || watchdog.responsive) return;
      detectedMs = performance.now() - frozenAt;
      unansweredAtDetection = [...seen.values()].filter((r) => r.arrivedResponsive && !r.sent).map((r) => r.url);
    }, 5);
    let thawed = false;
    const thaw = setTimeout(() => {
      thawed = true;
      redis.thaw();
    }, IN_FLIGHT_FREEZE_MS);
    redis.freeze();
    try {
      // Three waves 80 ms apart, all before the watchdog can notice (UNRESPONSIVE_AFTER_MS after
      // the last PING Redis answered): a guard that polled on a timer of its own (as before) would
      // answer the waves at three different moments, not all at the moment of detection.
      const answers = await Promise.all(
        [0, 80, 160].flatMap((delay) =>
          urls.map(async (url) => {
            await new Promise((resolve) => setTimeout(resolve, delay));
            const sent = performance.now();
            const request = url.startsWith('POST ')
              ? http.post(url.slice(5)).send({ rows: [{ a: 0.1, b: 0.2 }] })
              : http.get(url);
            const res = await request.buffer(true).timeout({ deadline: 30_000 });
            return {
              url,
              status: res.status,
              ms: performance.now() - sent,
              sinceFreezeMs: performance.now() - frozenAt,
              beforeThaw: !thawed,
            };
          }),
        ),
      );
      const slowest = answers.reduce((a, b) => (b.ms > a.ms ? b : a));
      console.log(
        `in flight at the freeze: ${answers.length} requests, the watchdog noticed ${detectedMs.toFixed(0)} ms after SIGSTOP ` +
          `(UNRESPONSIVE_AFTER_MS ${UNRESPONSIVE_AFTER_MS}); slowest answer ${slowest.ms.toFixed(0)} ms (${slowest.url}), ` +
          `last ${Math.max(...answers.map((a) => a.sinceFreezeMs)).toFixed(0)} ms after SIGSTOP`,
      );
      for (const answer of answers) {
        assert.ok(answer.beforeThaw, `${answer.url} answered before the thaw`);
        assert.ok(answer.ms < IN_FLIGHT_LIMIT_MS, `${answer.url} answered in ${answer.ms.toFixed(0)} ms`);
        if (answer.url === '/metrics') assert.equal(answer.status, 200, '/metrics answers without the queue counts');
        else assert.equal(answer.status, 503, `${answer.url} needs Redis: 503 while it is frozen`);
      }
      assert.ok(unansweredAtDetection, 'the watchdog found Redis unresponsive while it was frozen');
      const inFlight = [...seen.values()].filter((r) => r.arrivedResponsive).length;
      assert.ok(inFlight >= urls.length, `at least a wave of requests was in flight when Redis froze (${inFlight})`);
      assert.deepEqual(
        unansweredAtDetection,
        [],
        'every request in flight was answered in the turn the watchdog found Redis unresponsive, not at a later poll',
      );
    } finally {
      clearInterval(poll);
      clearTimeout(thaw);
      if (!thawed) redis.thaw();
    }
    await waitForReady(http);
  });
  /** A watchdog of its own on a new connection; counts the times it finds Redis unresponsive. */
  async function watchedConnection() {
    const connection = createRedis(redis.url, { enableOfflineQueue: true });
    const watchdog = new RedisWatchdog(connection);
    const counter = { alarms: 0 };
    watchdog.onUnresponsive(() => counter.alarms++);
    await connection.ping();
    while (!watchdog.responsive) await sleep(10);
    await sleep(300); // its PINGs going
    return { connection, watchdog, counter };
  }

  test('an event loop blocked past the limit while a PING is answered is not a frozen Redis', async () => {
    const { connection, watchdog, counter } = await watchedConnection();
    try {
      for (let round = 0; round < 3; round++) {
        // Redis frozen for less than the limit, so a PING is out; thawed, it answers at once, but
        // this process is blocked for three times the limit and reads the answer only after the
        // PING's timer has expired.
        redis.freeze();
        await sleep(UNRESPONSIVE_AFTER_MS / 2);
        redis.thaw();
        const until = performance.now() + 3 * UNRESPONSIVE_AFTER_MS;
        while (performance.now() < until) {
          // blocked, as by a long synchronous step of a request
        }
        await sleep(UNRESPONSIVE_AFTER_MS);
      }
      assert.equal(counter.alarms, 0, 'the watchdog never found Redis unresponsive');
      assert.ok(watchdog.responsive);
    } finally {
      connection.disconnect();
    }
  });

  test("the threshold follows the PINGs' latency: 500 ms for a prompt Redis, more for a busy one, capped", () => {
    assert.equal(unresponsiveAfterMs([]), UNRESPONSIVE_AFTER_MS);
    assert.equal(
      unresponsiveAfterMs([0.4, 1.2, 3]),
      UNRESPONSIVE_AFTER_MS,
      'answers in milliseconds: the 500 ms floor',
    );
    assert.equal(unresponsiveAfterMs([20, 300, 40]), 900, 'three times the slowest recent answer');
    assert.equal(unresponsiveAfterMs([5_000]), MAX_UNRESPONSIVE_AFTER_MS, 'never past the cap');
  });

  test('a busy Redis (8 MB dataset-chunk writes on other connections) is not a frozen one', async () => {
    const { connection, watchdog, counter } = await watchedConnection();
    // The largest write the service does: a 65,536-row × 30-column chunk (float32 cells, a bit each for missing).
    const chunk = Buffer.alloc(65_536 * 30 * 4 + (65_536 * 30) / 8, 7);
    const writers = [
      createRedis(redis.url, { enableOfflineQueue: true }),
      createRedis(redis.url, { enableOfflineQueue: true }),
    ];
    let written = 0;
    try {
      const until = performance.now() + 3_000;
      await Promise.all(
        writers.map(async (writer, w) => {
          while (performance.now() < until) {
            await writer.set(`freeze-test:chunk:${w}`, chunk, 'EX', 60);
            written++;
          }
        }),
      );
      console.log(
        `${written} chunks of ${(chunk.length / 1e6).toFixed(1)} MB written in 3 s; watchdog alarms: ${counter.alarms}`,
      );
      assert.ok(written > 2, `chunks were written (${written})`);
      assert.equal(counter.alarms, 0, 'the watchdog never found the busy Redis unresponsive');
      assert.ok(watchdog.responsive);
    } finally {
      for (const writer of writers) writer.disconnect();
      connection.disconnect();
    }
  });
});
