import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import { xorCsv } from '../helpers/app';
import { testConfig } from '../helpers/config';
import { PrivateRedis } from '../helpers/private-redis';
import { waitForReady } from '../helpers/ready';

/** Longest the test keeps Redis frozen while it waits for an answer; then it thaws it anyway. */
const GUARD_MS = 60_000;

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

  before(async () => {
    redis = await PrivateRedis.start();
    config.redisUrl = redis.url;
    app = await buildApp(config);
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
});
